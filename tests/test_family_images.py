"""Image families (mlp_ae, mlp_vae, conv_pooling, conv_fc, nvp, maf): configs, models, batching."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from taskset_torch.base import DataSource
from taskset_torch.tasks.conv import (
    ConvFCFamily,
    ConvFCTask,
    ConvPoolingTask,
    conv_geometry,
    conv_stack_apply,
)
from taskset_torch.tasks.flow_layers import clip_preserve_grad, made_mask, made_masks
from taskset_torch.tasks.flows import (
    MAFFamily,
    MAFTask,
    NVPTask,
    maf_permutation_seed,
    nvp_permutations,
)
from taskset_torch.tasks.image_common import flatten_hwc
from taskset_torch.tasks.layers import get_activation
from taskset_torch.tasks.mlp_ae import MLPAETask
from taskset_torch.tasks.mlp_vae import BIN_SIZE, MLPVAETask
from taskset_torch.training import FlatParams

# Entries copied from TaskSet's full conv_fc_family.json (beyond the shared reference file);
# seed 43 is one whose last VALID layer leaves a 0x0 map.
EXTRA_CONV_FC = {
    41: '{"strides": [[2, 2]], "hidden_units": [16], "activation": "leaky_relu1", "w_init": '
    '["he_uniform", null], "padding": ["VALID"], "fc_hidden_units": [95, 92], "use_bias": false, '
    '"dataset": ["coil100_32x32", {"bs": 129, "just_train": true, "num_train": null}, null], '
    '"center_data": false}',
    43: '{"strides": [[2, 2], [2, 2], [2, 2], [2, 2], [2, 2]], "hidden_units": [28, 11, 13, 16, '
    '48], "activation": "relu", "w_init": ["he_uniform", null], "padding": ["VALID", "VALID", '
    '"SAME", "VALID", "VALID"], "fc_hidden_units": [97], "use_bias": true, "dataset": '
    '["coil100_32x32", {"bs": 55, "just_train": false, "num_train": null}, null], "center_data": '
    "true}",
}


class FakeImages:
    """A tiny in-memory stand-in for an ImageDataset: quantized images in [0, 1] and labels."""

    def __init__(self, shape=(1, 4, 4), num_classes=3, size=64, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (size, *shape), generator=g).float() / 255.0
        self.labels = torch.randint(0, num_classes, (size,), generator=g)
        self.num_classes = num_classes
        self.source = DataSource("fake", "synthetic", "test images")

    def batch(self, split, batch_size, generator):
        idx = torch.randint(0, self.images.shape[0], (batch_size,), generator=generator)
        return {"image": self.images[idx], "label": self.labels[idx]}

    def to(self, device):
        return self


GLOROT = ["glorot_uniform", None]


def _ae(**kw):
    args = dict(dataset=FakeImages((1, 4, 4)), batch_size=5, hidden_units=[6, 5],
                activation="tanh", w_init=GLOROT, output_type="tanh", loss_type="l2",
                reduction_type="reduce_mean")  # fmt: skip
    args.update(kw)
    return MLPAETask(**args)


def _vae(**kw):
    args = dict(dataset=FakeImages((1, 4, 4)), batch_size=5, enc_hidden_units=[6, 3],
                dec_hidden_units=[7], activation="elu", w_init=GLOROT)  # fmt: skip
    args.update(kw)
    return MLPVAETask(**args)


_CONV = dict(strides=[[1, 1], [2, 2]], padding=["SAME", "VALID"], hidden_units=[4, 3],
             activation="relu", w_init=["he_normal", None], use_bias=True, center_data=True)  # fmt: skip


def _pool(pool_type="mean", shape=(2, 7, 7), **kw):
    args = dict(_CONV, dataset=FakeImages(shape), batch_size=5, pool_type=pool_type)
    args.update(kw)
    return ConvPoolingTask(**args)


def _fc(shape=(2, 8, 8), **kw):
    args = dict(_CONV, dataset=FakeImages(shape), batch_size=5, fc_hidden_units=[5])
    args.update(kw)
    return ConvFCTask(**args)


def _nvp(shape=(1, 2, 3), **kw):
    args = dict(dataset=FakeImages(shape), batch_size=4, hidden_units=[8], num_bijectors=3,
                activation="tanh", w_init=["glorot_normal", None])  # fmt: skip
    args.update(kw)
    return NVPTask(**args)


def _maf(shape=(1, 2, 2), hidden=(12, 12), **kw):
    args = dict(dataset=FakeImages(shape), batch_size=4, hidden_units=list(hidden),
                num_bijectors=3, activation="tanh", w_init=["glorot_normal", None],
                permutation_seed=7)  # fmt: skip
    args.update(kw)
    return MAFTask(**args)


TINY_TASKS = {
    "ae_tanh_l2_mean": lambda: _ae(),
    "ae_sigmoid_l1_sum": lambda: _ae(
        output_type="sigmoid", loss_type="l1", reduction_type="reduce_sum"
    ),
    "ae_linear_center": lambda: _ae(output_type="linear_center"),
    "vae": lambda: _vae(),
    "pool_mean": lambda: _pool("mean"),
    "pool_max": lambda: _pool("max"),
    "pool_squared_mean_nobias": lambda: _pool("squared_mean", use_bias=False),
    "conv_fc": lambda: _fc(),
    "conv_fc_no_hidden": lambda: _fc(fc_hidden_units=[]),
    "conv_fc_empty_map": lambda: _fc(
        shape=(1, 4, 4), strides=[[2, 2], [2, 2]], padding=["VALID", "VALID"]
    ),
    "nvp": lambda: _nvp(),
    "maf_made": lambda: _maf(),
    "maf_constant": lambda: _maf(shape=(1, 3, 3), hidden=(4,)),
}


# ----------------------------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------------------------


# TaskSet's stored configs of these families: test_families.test_configs_reproduce_taskset.


@pytest.mark.parametrize("seed", sorted(EXTRA_CONV_FC))
def test_more_conv_fc_seeds_from_taskset_reproduce(seed):
    assert json.dumps(ConvFCFamily().sample(seed)) == EXTRA_CONV_FC[seed]


# ----------------------------------------------------------------------------------------------
# The Task contract: vectorization, isolation of parameter sets
# ----------------------------------------------------------------------------------------------


def _distinct_sets(task, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    fp = FlatParams(task.init(k, g))
    return fp, fp.flat + 0.05 * torch.randn(fp.flat.shape, generator=g), task.batch("train", g)


@pytest.mark.parametrize("name", list(TINY_TASKS))
def test_vectorized_loss_and_grads_equal_per_set(name):
    task = TINY_TASKS[name]()
    fp, flat, batch = _distinct_sets(task, 3)
    assert fp.num_params == task.num_params()
    leaf = flat.clone().requires_grad_(True)
    loss = task.loss(fp.views(leaf), batch)
    assert loss.shape == (3,) and torch.isfinite(loss).all()
    (grad,) = torch.autograd.grad(loss.sum(), leaf)
    for i in range(3):
        one = flat[i : i + 1].clone().requires_grad_(True)
        li = task.loss(fp.views(one), batch)
        (gi,) = torch.autograd.grad(li.sum(), one)
        torch.testing.assert_close(li[0], loss[i], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(gi[0], grad[i], rtol=1e-4, atol=1e-6)
    assert not torch.allclose(loss[0], loss[1])  # the sets really differ


@pytest.mark.parametrize("name", list(TINY_TASKS))
def test_a_nan_parameter_set_leaves_the_others_alone(name):
    task = TINY_TASKS[name]()
    fp, flat, batch = _distinct_sets(task, 3)
    clean = task.loss(fp.views(flat), batch)
    poisoned = flat.clone()
    poisoned[1] = float("nan")
    loss = task.loss(fp.views(poisoned), batch)
    assert torch.isnan(loss[1])
    torch.testing.assert_close(loss[[0, 2]], clean[[0, 2]])


@pytest.mark.parametrize(
    "name", ["ae_tanh_l2_mean", "vae", "pool_max", "conv_fc", "nvp", "maf_made"]
)
def test_cpu_blocks_of_sets_give_the_same_loss_and_grads(name, monkeypatch):
    import taskset_torch.tasks.image_common as common

    task = TINY_TASKS[name]()
    fp, flat, batch = _distinct_sets(task, 5)
    out = []
    for block_floats in (1 << 40, 2 * task.activation_floats):  # all 5 at once; blocks of 2
        monkeypatch.setattr(common, "CPU_BLOCK_FLOATS", block_floats)
        leaf = flat.clone().requires_grad_(True)
        loss = task.loss(fp.views(leaf), batch)
        out.append((loss, torch.autograd.grad(loss.sum(), leaf)[0]))
    torch.testing.assert_close(out[0][0], out[1][0])
    torch.testing.assert_close(out[0][1], out[1][1])


def test_batches_are_shared_and_seeded():
    task = _vae()
    b1 = task.batch("valid_inner", torch.Generator().manual_seed(3))
    b2 = task.batch("valid_inner", torch.Generator().manual_seed(3))
    for k in b1:
        assert torch.equal(b1[k], b2[k])
    assert b1["eps"].shape == (5, 3) and b1["dequant"].shape == (5, 16)
    assert b1["dequant"].abs().max() <= BIN_SIZE / 2


# ----------------------------------------------------------------------------------------------
# mlp_ae
# ----------------------------------------------------------------------------------------------


def test_ae_centers_exactly_for_tanh_and_linear_center():
    g = torch.Generator().manual_seed(0)
    for output_type, centered in [("tanh", True), ("linear_center", True), ("sigmoid", False),
                                  ("linear", False)]:  # fmt: skip
        x = _ae(output_type=output_type).batch("train", g)["image"]
        assert x.shape == (5, 16)
        assert (x.min() < 0) == centered and x.max() <= 1


def test_ae_loss_matches_a_direct_computation():
    task = _ae(output_type="sigmoid", loss_type="l1", reduction_type="reduce_sum")
    g = torch.Generator().manual_seed(1)
    p = task.init(1, g)
    x = task.batch("train", g)["image"]
    act = get_activation("tanh")
    h = act(x @ p["mlp/w0"][0] + p["mlp/b0"][0])
    h = act(h @ p["mlp/w1"][0] + p["mlp/b1"][0])
    out = torch.sigmoid(h @ p["mlp/w2"][0] + p["mlp/b2"][0])
    want = (out - x).abs().sum(1).mean()
    torch.testing.assert_close(task.loss(p, {"image": x})[0], want)


# ----------------------------------------------------------------------------------------------
# mlp_vae
# ----------------------------------------------------------------------------------------------


def test_vae_loss_is_minus_elbo_with_quantized_normal_and_analytic_kl():
    from torch.distributions import Normal, kl_divergence

    task = _vae()
    g = torch.Generator().manual_seed(2)
    p = {k: v * 1.5 for k, v in task.init(1, g).items()}
    b = task.batch("train", g)
    act = get_activation("elu")
    x = b["image"]
    h = act(x @ p["encoder/w0"][0] + p["encoder/b0"][0])
    q = h @ p["encoder/w1"][0] + p["encoder/b1"][0]
    qz = Normal(q[:, :3], q[:, 3:].exp())
    z = qz.loc + qz.scale * b["eps"]
    kl = kl_divergence(qz, Normal(torch.zeros(3), torch.ones(3))).sum(1)
    d = act(z @ p["decoder/w0"][0] + p["decoder/b0"][0])
    d = (d @ p["decoder/w1"][0] + p["decoder/b1"][0]).clamp(-10, 10)
    px = Normal(d[:, :16], d[:, 16:].exp())
    log_px = (px.log_prob(x + b["dequant"]) + math.log(1 / 255)).sum(1)
    torch.testing.assert_close(task.loss(p, b)[0], -(log_px - kl).mean(), rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------------------------
# conv families
# ----------------------------------------------------------------------------------------------


def _numpy_tf_conv(x, w, stride, padding):
    """Naive NCHW conv with a TF-layout [3, 3, cin, cout] kernel and TF's SAME/VALID rule."""
    b, c, h, wd = x.shape
    if padding == "SAME":
        oh = -(-h // stride)
        total = max((oh - 1) * stride + 3 - h, 0)
        top = total // 2
        xp = np.zeros((b, c, h + total, wd + total))
        xp[:, :, top : top + h, top : top + wd] = x
    else:
        oh = (h - 3) // stride + 1
        xp = x
    out = np.zeros((b, w.shape[3], oh, oh))
    for i in range(oh):
        for j in range(oh):
            patch = xp[:, :, i * stride : i * stride + 3, j * stride : j * stride + 3]
            out[:, :, i, j] = np.einsum("bcuv,uvco->bo", patch, w)
    return out


@pytest.mark.parametrize("size", [5, 6, 7, 8])
def test_conv_stack_matches_naive_tf_convolution(size):
    strides, pads, hidden = [2, 1, 2], ["SAME", "SAME", "VALID"], [3, 4, 2]
    layers = conv_geometry((2, size, size), hidden, strides, pads)
    g = torch.Generator().manual_seed(size)
    n = 2
    params = {}
    for i, lay in enumerate(layers):
        params[f"conv/w{i}"] = torch.randn(n, 3, 3, lay.cin, lay.cout, generator=g)
        params[f"conv/b{i}"] = torch.randn(n, lay.cout, generator=g)
    x = torch.randn(3, 2, size, size, generator=g)
    got = conv_stack_apply(params, x, layers, torch.tanh, use_bias=True)  # [B, n*C, H, W]
    for k in range(n):
        ref = x.double().numpy()
        for i, (s, pad) in enumerate(zip(strides, pads)):
            ref = _numpy_tf_conv(ref, params[f"conv/w{i}"][k].double().numpy(), s, pad)
            ref = np.tanh(ref + params[f"conv/b{i}"][k].double().numpy()[None, :, None, None])
        block = got[:, k * hidden[-1] : (k + 1) * hidden[-1]]
        np.testing.assert_allclose(block.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_tf_same_padding_puts_the_extra_row_at_the_end():
    # TF: stride 2 on a 4x4 image pads one row/column at the bottom/right only.
    layers = conv_geometry((1, 4, 4), [1], [2], ["SAME"])
    assert layers[0].pad == (0, 1, 0, 1) and layers[0].out_hw == (2, 2)
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    params = {"conv/w0": torch.ones(1, 3, 3, 1, 1)}
    out = conv_stack_apply(params, x, layers, lambda t: t, use_bias=False)[0, 0]
    assert out[0, 0] == x[0, 0, 0:3, 0:3].sum() and out[1, 1] == x[0, 0, 2:4, 2:4].sum()


def test_conv_geometry_follows_tensorflow_including_empty_maps():
    sizes = [lay.out_hw[0] for lay in conv_geometry((3, 32, 32), [4] * 5, [2] * 5, ["VALID"] * 5)]
    assert sizes == [15, 7, 3, 1, 0]  # TF: (1 - 3 + 2) // 2 = 0, allowed
    assert [lay.out_hw[0] for lay in conv_geometry((1, 2, 2), [4], [1], ["VALID"])] == [0]
    with pytest.raises(ValueError, match="negative output size"):
        conv_geometry((1, 1, 1), [4], [1], ["VALID"])  # TF: (1 - 3 + 1) = -1


def test_empty_conv_map_gives_nan_pooling_and_a_bias_only_fc_head():
    kw = dict(shape=(1, 4, 4), strides=[[2, 2], [2, 2]], padding=["VALID", "VALID"])
    for pool in ("mean", "max", "squared_mean"):
        task = _pool(pool, **kw)
        g = torch.Generator().manual_seed(0)
        assert torch.isnan(task.loss(task.init(2, g), task.batch("train", g))).all()
    task = _fc(**kw)
    g = torch.Generator().manual_seed(0)
    fp = FlatParams(task.init(1, g))
    leaf = fp.flat.clone().requires_grad_(True)
    params = fp.views(leaf)
    assert params["fc/w0"].shape == (1, 0, 5)
    batch = task.batch("train", g)
    loss = task.loss(params, batch)
    (grad,) = torch.autograd.grad(loss.sum(), leaf)
    grads = fp.views(grad)
    assert all(bool((grads[k] == 0).all()) for k in grads if k.startswith("conv/"))
    assert grads["fc/b1"].abs().sum() > 0
    # The logits are the fc head on a constant input: relu(b0) @ w1 + b1 -> uniform at init.
    torch.testing.assert_close(loss[0], torch.tensor(math.log(3.0)))


def test_pool_types_and_linear_head_match_a_direct_computation():
    for pool in ("mean", "max", "squared_mean"):
        task = _pool(pool)
        g = torch.Generator().manual_seed(4)
        p = task.init(1, g)
        b = task.batch("train", g)
        h = conv_stack_apply(p, b["image"], task.layers, torch.relu, True)
        red = {"mean": h.mean((2, 3)), "max": h.amax((2, 3)), "squared_mean": (h**2).mean((2, 3))}
        logits = red[pool] @ p["linear/w"][0] + p["linear/b"][0]
        want = torch.nn.functional.cross_entropy(logits, b["label"])
        torch.testing.assert_close(task.loss(p, b)[0], want)


def test_conv_fc_flattens_in_tensorflow_order():
    task = _fc(hidden_units=[2, 3], fc_hidden_units=[])
    g = torch.Generator().manual_seed(5)
    p = task.init(1, g)
    b = task.batch("train", g)
    h = conv_stack_apply(p, b["image"], task.layers, torch.relu, True)
    logits = flatten_hwc(h) @ p["fc/w0"][0] + p["fc/b0"][0]
    want = torch.nn.functional.cross_entropy(logits, b["label"])
    torch.testing.assert_close(task.loss(p, b)[0], want)


# ----------------------------------------------------------------------------------------------
# Flows
# ----------------------------------------------------------------------------------------------


def _nvp_forward(task, params, x):
    """TFP's forward direction (sampling), written independently: nvp0, perm0, nvp1, ..."""
    perms = nvp_permutations(task.input_dim, task.num_bijectors)
    m, out = task.num_masked, task.sizes[-1] // 2
    act = task.activation
    for i in range(task.num_bijectors):
        h = x[:, :m]
        for j in range(len(task.sizes) - 1):
            h = h @ params[f"nvp{i}/w{j}"][0] + params[f"nvp{i}/b{j}"][0]
            h = act(h) if j < len(task.sizes) - 2 else h
        x = torch.cat([x[:, :m], x[:, m:] * h[:, out:].exp() + h[:, :out]], 1)
        if i < task.num_bijectors - 1:
            x = x[:, torch.as_tensor(perms[i])]
    return x


def _flow_params(task, scale, seed):
    g = torch.Generator().manual_seed(seed)
    p = task.init(1, g)
    return {k: (v + scale * torch.randn(v.shape, generator=g)).double() for k, v in p.items()}


def test_nvp_density_is_the_change_of_variables_of_its_forward_map():
    task = _nvp()
    p = _flow_params(task, 0.3, 0)
    x = torch.randn(4, task.input_dim, dtype=torch.float64)
    y = _nvp_forward(task, p, x)
    logdet = torch.stack([
        torch.linalg.slogdet(torch.autograd.functional.jacobian(
            lambda v: _nvp_forward(task, p, v[None])[0], x[b]))[1]
        for b in range(4)
    ])  # fmt: skip
    log_px = -0.5 * (x**2).sum(1) - 0.5 * task.input_dim * math.log(2 * math.pi)
    want = -(log_px - logdet).mean()
    got = task.loss(p, {"image": y, "noise": torch.zeros_like(y)})[0]
    torch.testing.assert_close(got, want)


def test_nvp_uses_taskset_permutations_and_half_mask():
    task = _nvp(shape=(3, 2, 2), num_bijectors=4)
    assert task.num_masked == 6 and len(task.inv_perms) == 3
    for i, inv in enumerate(task.inv_perms):
        perm = np.random.RandomState(i).permutation(12)
        assert np.array_equal(inv.numpy()[perm], np.arange(12))


def test_made_masks_match_tfp_gen_mask():
    def tfp_loop(num_blocks, n_in, n_out, exclusive):
        mask = np.zeros([n_out, n_in])
        d_in, d_out = n_in // num_blocks, n_out // num_blocks
        row, col = (d_out if exclusive else 0), 0
        for _ in range(num_blocks):
            mask[row:, col : col + d_in] = 1
            col, row = col + d_in, row + d_out
        return mask.T

    for args in [(3, 3, 6, True), (3, 6, 6, False), (5, 11, 10, False), (784, 784, 100, True),
                 (784, 100, 1568, False), (4, 9, 10, True)]:  # fmt: skip
        np.testing.assert_array_equal(made_mask(*args).numpy(), tfp_loop(*args))
    # TaskSet's MAF on images: hidden units < D, so every mask after the first is all zeros.
    masks = made_masks(784, [100, 50])
    assert masks[0].all() and not masks[1].any() and not masks[2].any()


def test_made_is_autoregressive_when_wide_enough():
    task = _maf(shape=(1, 2, 2), hidden=(12, 12))
    assert not task.constant_flow
    p = _flow_params(task, 0.3, 1)
    from taskset_torch.tasks.flow_layers import made_shift_log_scale

    def outputs(v):
        s, ls = made_shift_log_scale(p, v[None, None], task.masks, torch.tanh, "maf0")
        return torch.cat([s[0, 0], ls[0, 0]])

    jac = torch.autograd.functional.jacobian(outputs, torch.randn(4, dtype=torch.float64))
    for block in (jac[:4], jac[4:]):
        assert torch.count_nonzero(torch.triu(block)) == 0  # output d sees inputs < d only
        assert torch.count_nonzero(torch.tril(block, -1)) > 0


def _maf_forward(task, params, x):
    """MAF sampling direction, independently: D fixed-point sweeps per bijector, then permute."""
    from taskset_torch.tasks.flow_layers import made_shift_log_scale

    for i in range(task.num_bijectors):
        y = torch.zeros_like(x)
        for _ in range(task.input_dim):
            s, ls = made_shift_log_scale(params, y[None], task.masks, task.activation, f"maf{i}",
                                         task.dead_layer)  # fmt: skip
            y = x * ls[0].exp() + s[0]
        x = y
        if i < task.num_bijectors - 1:
            x = x[:, torch.argsort(task.inv_perms[i])]
    return x


@pytest.mark.parametrize("hidden", [(12, 12), (4,)])
def test_maf_density_is_the_change_of_variables_of_its_forward_map(hidden):
    task = _maf(shape=(1, 2, 2), hidden=hidden) if hidden != (4,) else _maf((1, 3, 3), hidden)
    p = _flow_params(task, 0.3, 2)
    x = torch.randn(4, task.input_dim, dtype=torch.float64)
    y = _maf_forward(task, p, x)
    logdet = torch.stack([
        torch.linalg.slogdet(torch.autograd.functional.jacobian(
            lambda v: _maf_forward(task, p, v[None])[0], x[b]))[1]
        for b in range(4)
    ])  # fmt: skip
    log_px = -0.5 * (x**2).sum(1) - 0.5 * task.input_dim * math.log(2 * math.pi)
    got = task.loss(p, {"image": y, "noise": torch.zeros_like(y)})[0]
    torch.testing.assert_close(got, -(log_px - logdet).mean())


def test_maf_constant_path_equals_the_generic_made_computation():
    task = _maf(shape=(1, 3, 3), hidden=(4, 5))
    assert task.constant_flow and task.dead_layer == 2
    fp, flat, batch = _distinct_sets(task, 2, seed=3)
    flat = flat + 0.3 * torch.randn(flat.shape, generator=torch.Generator().manual_seed(0))
    y = batch["image"] + batch["noise"]
    grads = []
    for fn in (task._constant_loss, task._generic_loss):
        leaf = flat.clone().requires_grad_(True)
        loss = fn(fp.views(leaf), y)
        grads.append((loss, torch.autograd.grad(loss.sum(), leaf)[0]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-4, atol=1e-6)
    dead = fp.views(grads[0][1])
    assert (dead["maf0/w0"] == 0).all() and (dead["maf0/w2"] == 0).all()
    assert dead["maf0/b2"].abs().sum() > 0


def test_clip_preserves_the_gradient():
    x = torch.tensor([-7.0, 0.5, 4.0], requires_grad=True)
    y = clip_preserve_grad(x, -5.0, 3.0)
    assert y.tolist() == [-5.0, 0.5, 3.0]
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.tolist() == [1.0, 1.0, 1.0]


def test_maf_permutation_seed_is_a_deterministic_function_of_the_config():
    cfg = MAFFamily().sample(3)
    assert maf_permutation_seed(cfg) == maf_permutation_seed(json.loads(json.dumps(cfg)))
    assert maf_permutation_seed(cfg) != maf_permutation_seed(MAFFamily().sample(4))


# ----------------------------------------------------------------------------------------------
# Bad configs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: _ae(output_type="relu"), "output_type"),
        (lambda: _ae(reduction_type="mean"), "reduction_type"),
        (lambda: _ae(hidden_units=[]), "hidden_units"),
        (lambda: _pool("min"), "pool_type"),
        (lambda: _pool(strides=[[1, 2], [2, 2]]), "stride"),
        (lambda: _pool(padding=["SAME", "FULL"]), "padding"),
        (lambda: _fc(fc_hidden_units=[0]), "fc_hidden_units"),
        (lambda: _nvp(num_bijectors=0), "num_bijectors"),
        (lambda: _vae(batch_size=0), "batch size"),
    ],
)
def test_bad_configs_name_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_build_rejects_a_config_missing_keys():
    cfg = ConvFCFamily().sample(0)
    del cfg["padding"]
    with pytest.raises(ValueError, match="padding"):
        ConvFCFamily().build(cfg)
