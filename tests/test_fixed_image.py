"""TaskSet's fixed image / 2-D / flow tasks: names, quirks, and the layers they add."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from taskset_torch.names import resolve_config
from taskset_torch.tasks.fixed import (
    build_fixed_task,
    fixed_task_kind,
    fixed_task_names,
    fixed_task_spec,
)
from taskset_torch.tasks.fixed._image import deconv_geometry, deconv_stack_apply
from taskset_torch.tasks.layers import initialize
from taskset_torch.tasks.norm_layers import (
    batch_norm_batch_stats,
    batch_norm_frozen,
    dropout_scale,
    layer_norm,
)
from taskset_torch.tasks.registry import build_task, task_config
from tests.conftest import reference_task_names

MY_KINDS = {
    "fixed_2d": 8,
    "fixed_image_conv": 23,
    "fixed_image_conv_ae": 5,
    "fixed_image_conv_vae": 7,
    "fixed_maf": 3,
    "fixed_mlp": 13,
    "fixed_mlp_ae": 3,
    "fixed_mlp_vae": 7,
    "fixed_nvp": 5,
}
_PREFIX_KIND = [
    ("TwoD_", "fixed_2d"),
    ("FixedImageConvAE_", "fixed_image_conv_ae"),
    ("FixedImageConvVAE_", "fixed_image_conv_vae"),
    ("FixedImageConv_", "fixed_image_conv"),
    ("Mnist_Conv_", "fixed_image_conv"),
    ("FixedMAF_", "fixed_maf"),
    ("FixedMLPAE_", "fixed_mlp_ae"),
    ("FixedMLPVAE_", "fixed_mlp_vae"),
    ("Imagenet32x30_FC_VAE", "fixed_mlp_vae"),
    ("FixedMLP_", "fixed_mlp"),
    ("FixedNVP_", "fixed_nvp"),
]


def _reference_names() -> list[str]:
    return [n for n in reference_task_names() if not n.endswith("_family")]


def test_every_taskset_name_of_these_kinds_resolves():
    mine = {}
    for name in _reference_names():
        kind = next((k for p, k in _PREFIX_KIND if name.startswith(p)), None)
        if kind is not None:
            mine[name] = kind
    assert len(mine) == sum(MY_KINDS.values()) == 74
    for name, kind in mine.items():
        assert fixed_task_kind(name) == kind
        assert task_config(name) == resolve_config(name) == fixed_task_spec(name)
    for kind, count in MY_KINDS.items():
        assert sorted(fixed_task_names(kind)) == sorted(n for n, k in mine.items() if k == kind)
        assert len(fixed_task_names(kind)) == count


def test_unknown_fixed_name_suggests_close_ones():
    with pytest.raises(KeyError, match="FixedMLP_mnist_ce_128x128x128_relu_bs128"):
        fixed_task_kind("FixedMLP_mnist_ce_128x128x128_relu_bs12")


def test_taskset_quirks_are_kept():
    # fixed_image_conv_vae.py: the "mnist" VAE loads cifar10.
    assert fixed_task_spec("FixedImageConvVAE_mnist_32x64x32x64x32_bs128")["dataset"] == "cifar10"
    # fixed_mlp_vae.py: the Imagenet VAE loads food101_32x32 at batch 256.
    spec = fixed_task_spec("Imagenet32x30_FC_VAE_128x64x32x64x128_relu_bs256")
    assert (spec["dataset"], spec["batch_size"]) == ("food101_32x32", 256)
    # fixed_nvp.py: "_bs16" trains at batch 64.
    assert fixed_task_spec("FixedNVP_mnist_9layer_thin_bs16")["batch_size"] == 64
    # fixed_image_conv_ae.py: "...32x64x32x64x32_bs512" has decoder [64, 64].
    assert fixed_task_spec("FixedImageConvAE_mnist_32x64x32x64x32_bs512")["dec_units"] == [64, 64]
    # fixed_mlp.py: BatchNormV2 called with is_training=False.
    assert fixed_task_spec("FixedMLP_cifar10_BatchNorm_128x128x128_relu_bs128")["norm"] == (
        "batch_norm_frozen"
    )
    # Non-default num_per_valid of two fixed conv tasks.
    assert (
        fixed_task_spec("FixedImageConv_coil10032x32_bn_32x64x128x128_bs128")["num_per_valid"]
        == 800
    )
    assert (
        fixed_task_spec("FixedImageConv_colorectalhistology32x32_32x64x64_flatten_bs128")[
            "num_per_valid"
        ]
        == 700
    )


def test_specs_are_copies():
    spec = fixed_task_spec("FixedMLP_mnist_ce_128x128x128_relu_bs128")
    spec["batch_size"] = 1
    assert fixed_task_spec("FixedMLP_mnist_ce_128x128x128_relu_bs128")["batch_size"] == 128


def test_bad_specs_fail_clearly():
    spec = fixed_task_spec("FixedImageConv_cifar10_32x64x64_bs128")
    with pytest.raises(ValueError, match="head must be 'pool' or 'flatten'"):
        build_fixed_task("FixedImageConv_cifar10_32x64x64_bs128", {**spec, "head": "dense"})
    with pytest.raises(ValueError, match="lacks \\['activation'\\]"):
        build_fixed_task(
            "FixedMLP_mnist_ce_128x128x128_relu_bs128",
            {k: v for k, v in fixed_task_spec("FixedMLP_mnist_ce_128x128x128_relu_bs128").items()
             if k != "activation"},
        )  # fmt: skip
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        build_fixed_task("FixedMLPAE_mnist_32x32x32_bs128", {
            **fixed_task_spec("FixedMLPAE_mnist_32x32x32_bs128"), "batch_size": 0
        })  # fmt: skip


def test_parameter_counts_match_taskset_architectures():
    # 784 -> 128 -> 128 -> 128 -> 10, biases included.
    mlp = build_task("FixedMLP_mnist_ce_128x128x128_relu_bs128")
    assert mlp.num_params() == 784 * 128 + 128 + 2 * (128 * 128 + 128) + 128 * 10 + 10
    # Frozen BN adds one offset per hidden unit, LayerNorm a scale and an offset.
    bn = build_task("FixedMLP_cifar10_BatchNorm_64x64x64x64x64_relu_bs128")
    dense = 3072 * 64 + 64 + 4 * (64 * 64 + 64) + 64 * 10 + 10
    assert bn.num_params() == dense + 5 * 64
    # Conv AE on MNIST: 3x3 convs 1->32->32 (stride 2: 28->14->7), flatten 7*7*32 -> 32 latents,
    # Linear(7*7*32), transposed convs 32->32->32, 1x1 conv 32->1.
    ae = build_task("FixedImageConvAE_mnist_32x32x32x32x32_bs128")
    enc = (9 * 1 * 32 + 32) + (9 * 32 * 32 + 32) + (7 * 7 * 32 * 32 + 32)
    dec = (32 * 7 * 7 * 32 + 7 * 7 * 32) + 2 * (9 * 32 * 32 + 32) + (32 + 1)
    assert ae.num_params() == enc + dec
    assert build_task("TwoD_Rosenbrock").num_params() == 2


def test_frozen_batch_norm_is_a_shift():
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    off = torch.randn(2, 3)
    want = x / math.sqrt(1.0 + 1e-3) + off.unsqueeze(1)
    torch.testing.assert_close(batch_norm_frozen(x, off), want)


def test_batch_stat_batch_norm_and_layer_norm_normalize():
    g = torch.Generator().manual_seed(0)
    x = 3.0 + 2.0 * torch.randn(16, 6, 4, 4, generator=g)
    off = torch.arange(6.0).reshape(1, 6, 1, 1)
    y = batch_norm_batch_stats(x, off, dims=(0, 2, 3))
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.arange(6.0), atol=1e-5, rtol=0)
    var = (y - off).square().mean((0, 2, 3))
    torch.testing.assert_close(var, torch.full((6,), 1.0), atol=1e-3, rtol=0)
    h = torch.randn(2, 8, 10, generator=g) * 5 + 1
    scale, shift = torch.full((2, 10), 2.0), torch.full((2, 10), -1.0)
    z = layer_norm(h, scale, shift)
    torch.testing.assert_close(z.mean(-1), torch.full((2, 8), -1.0), atol=1e-5, rtol=0)
    want = F.layer_norm(h, (10,), eps=1e-5) * 2.0 - 1.0
    torch.testing.assert_close(z, want, atol=1e-5, rtol=1e-5)


def test_dropout_scale_is_tf_dropout_and_seeded():
    g = torch.Generator().manual_seed(0)
    m = dropout_scale((1000, 100), 0.2, g)
    assert set(torch.unique(m).tolist()) == {0.0, 5.0}
    assert abs(float((m > 0).float().mean()) - 0.2) < 0.01
    assert torch.equal(dropout_scale((3, 4), 0.5, torch.Generator().manual_seed(1)),
                       dropout_scale((3, 4), 0.5, torch.Generator().manual_seed(1)))  # fmt: skip
    with pytest.raises(ValueError, match="keep_prob"):
        dropout_scale((2,), 0.0, g)


def test_dropout_task_masks_come_from_the_batch():
    task = build_fixed_task(
        "FixedMLP_cifar10_Dropout05_128x128_relu_bs128",
        {**fixed_task_spec("FixedMLP_cifar10_Dropout05_128x128_relu_bs128"), "batch_size": 4},
    )
    b1 = task.batch("train", torch.Generator().manual_seed(3))
    b2 = task.batch("train", torch.Generator().manual_seed(3))
    assert b1["dropout0"].shape == (4, 128) and torch.equal(b1["dropout1"], b2["dropout1"])
    params = task.init(1, torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = task.loss(params, b1)
        b = task.loss(
            params, {**b1, "dropout0": torch.ones(4, 128), "dropout1": torch.ones(4, 128)}
        )
    assert not torch.equal(a, b)


def test_transposed_conv_is_the_adjoint_of_tf_same_stride2_conv():
    g = torch.Generator().manual_seed(0)
    n, b, cin, cout, h = 2, 3, 4, 5, 7
    layers = deconv_geometry(cin, (h, h), [cout])
    w = torch.randn(n, 3, 3, cin, cout, generator=g)
    params = {"deconv/w0": w, "deconv/b0": torch.zeros(n, cout)}
    y = torch.randn(b, n * cin, h, h, generator=g)
    out = deconv_stack_apply(params, y, layers, lambda t: t)
    assert out.shape == (b, n * cout, 2 * h, 2 * h)
    # TF SAME, stride 2 on 2h rows: pad 0 before and 1 after; its adjoint is the transposed conv.
    x = torch.randn(b, n * cout, 2 * h, 2 * h, generator=g)
    wf = w.permute(0, 3, 4, 1, 2).reshape(n * cin, cout, 3, 3)
    fx = F.conv2d(F.pad(x, (0, 1, 0, 1)), wf, stride=2, groups=n)
    torch.testing.assert_close((fx * y).sum(), (x * out).sum(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("spec", "fan_in", "std"),
    [
        (["sonnet_default", None], 400, 0.87962566 / 20.0),
        (["contrib_variance_scaling", None], 400, 0.87962566 * math.sqrt(2.6 / 400)),
    ],
)
def test_new_initializers(spec, fan_in, std):
    w = initialize(spec, (fan_in, 500), torch.Generator().manual_seed(0))
    assert abs(float(w.std()) - std) < 0.02 * std
    assert float(w.abs().max()) <= 2 * std / 0.87962566 + 1e-6


def test_fixed_vae_centers_its_input():
    spec = {**fixed_task_spec("FixedMLPVAE_mnist_128x64x32x64x128_bs64"), "batch_size": 4}
    x = build_fixed_task("FixedMLPVAE_mnist_128x64x32x64x128_bs64", spec).batch(
        "train", torch.Generator().manual_seed(0)
    )["image"]
    assert float(x.min()) < -0.5 and float(x.max()) <= 1.0


def test_cli_lists_filters_and_prints_fixed_tasks(capsys):
    import json

    from taskset_torch.cli import main

    names = ["TwoD_Beale", "FixedMLPAE_mnist_32x32x32_bs128", "quadratic_family_seed0"]
    assert main(["tasks", *names, "--kind", "fixed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["task"] for r in rows] == names[:2]
    assert [(r["kind"], r["family"]) for r in rows] == [
        ("fixed", "fixed_2d"),
        ("fixed", "fixed_mlp_ae"),
    ]
    assert rows[1]["num_params"] == 784 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 784 + 784
    assert "mnist" in rows[1]["data"]
    assert main(["tasks", *names, "--kind", "sampled", "--json"]) == 0
    assert [r["task"] for r in json.loads(capsys.readouterr().out)] == names[2:]
    assert main(["config", "FixedNVP_mnist_9layer_thin_bs16"]) == 0
    assert json.loads(capsys.readouterr().out)["num_bijectors"] == 9


def test_batchnorm_conv_classifier_matches_an_independent_forward():
    name = "FixedImageConv_cifar10_batchnorm_32x64x64_bs128"
    task = build_fixed_task(name, {**fixed_task_spec(name), "batch_size": 6})
    g = torch.Generator().manual_seed(0)
    params = task.init(2, g)
    params = {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in params.items()}
    batch = task.batch("train", g)
    with torch.no_grad():
        got = task.loss(params, batch)
        for k in range(2):
            x = batch["image"]
            for i, stride in enumerate([2, 1, 1]):
                w = params[f"conv/w{i}"][k].permute(3, 2, 0, 1)  # [3,3,cin,cout] -> OIHW
                # TF SAME: stride 2 on 32 pads (0, 1); stride 1 pads (1, 1).
                x = F.pad(x, (0, 1, 0, 1) if stride == 2 else (1, 1, 1, 1))
                x = F.conv2d(x, w, params[f"conv/b{i}"][k], stride=stride)
                x = F.batch_norm(
                    x, None, None, bias=params[f"bn/offset{i}"][k], training=True, eps=1e-3
                )
                x = torch.relu(x)
            logits = x.mean((2, 3)) @ params["linear/w"][k] + params["linear/b"][k]
            want = F.cross_entropy(logits, batch["label"])
            torch.testing.assert_close(got[k], want, rtol=1e-4, atol=1e-5)
