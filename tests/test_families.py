"""One parametrized check for every task family: configs, contract, vectorization, trainability."""

from __future__ import annotations

import functools
import json

import pytest
import torch

from taskset_torch.cost import examples_per_batch
from taskset_torch.tasks.registry import FAMILIES, get_family
from taskset_torch.training import FlatParams
from tests.conftest import assert_config_equal, load_reference

REFERENCE_FILE = {
    "quadratic_family": "quadratic_family.json",
    "mlp_family": "mlp_family.json",
    "mlp_ae_family": "mlp_ae_family.json",
    "mlp_vae_family": "mlp_vae_family.json",
    "conv_pooling_family": "conv_pooling_family.json",
    "conv_fc_family": "conv_fc_family.json",
    "nvp_family": "nvp_family.json",
    "maf_family": "maf_family.json",
    "char_rnn_language_model_family": "char_rnn_language_model.json",
    "word_rnn_language_model_family": "word_rnn_language_model.json",
    "rnn_text_classification_family": "rnn_text_classification.json",
    "losg_tasks_family": "losg_tasks_family.json",
}


def test_every_family_has_a_reference_file():
    assert set(REFERENCE_FILE) == set(FAMILIES)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_configs_reproduce_taskset(family):
    """TaskSet's 12 stored configs of the family come back from their seeds: names and sampler,
    structure, ints and strings exact, floats to 1e-12, and the same JSON text (key order, ints
    vs floats, nulls). The one reproduction check for every family (tests/data holds the facts)."""
    fam = get_family(family)
    ref = load_reference(REFERENCE_FILE[family])
    assert len(ref) == 12
    for name, (cfg, sampler) in ref.items():
        seed = int(name.rsplit("_seed", 1)[1])
        assert name == f"{fam.name}_seed{seed}" and sampler == fam.name, name
        got = fam.sample(seed)
        assert_config_equal(got, cfg, name)
        assert json.dumps(got) == json.dumps(cfg), name


@pytest.mark.parametrize("family", list(FAMILIES))
def test_sampling_is_deterministic_and_json(family):
    fam = get_family(family)
    for seed in range(0, 1000, 97):
        cfg = fam.sample(seed)
        assert json.loads(json.dumps(cfg)) == cfg
        assert fam.sample(seed) == cfg


def _cheap_seeds(fam, n: int, pool: int = 40) -> list[int]:
    """The ``n`` cheapest seeds among the first ``pool`` whose initial loss is finite.

    Some sampled tasks start at a non-finite loss in float32 exactly as TaskSet's did (e.g. a
    VAE whose initial log-std overflows, a conv stack that shrinks the image to 0x0); training
    checks need a finite starting point.
    """
    tasks = {s: fam.build(fam.sample(s), name=f"{fam.name}_seed{s}") for s in range(pool)}
    by_cost = sorted(
        tasks, key=lambda s: (tasks[s].num_params() * examples_per_batch(fam.sample(s)), s)
    )
    chosen = []
    for s in by_cost:
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            task = tasks[s]
            if torch.isfinite(task.loss(task.init(1, g), task.batch("train", g))).all():
                chosen.append(s)
        if len(chosen) == n:
            break
    return chosen


@functools.cache
def _cheapest_seeds(family: str) -> tuple[int, ...]:
    """``_cheap_seeds(family, 3)``, computed once per session (building 40 tasks takes seconds)."""
    return tuple(_cheap_seeds(get_family(family), 3))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_vectorized_equals_per_config(family):
    fam = get_family(family)
    seed = _cheapest_seeds(family)[0]
    task = fam.build(fam.sample(seed), name=f"{family}_seed{seed}")
    g = torch.Generator().manual_seed(0)
    k = 3
    fp = FlatParams(task.init(k, g))
    assert fp.num_params == task.num_params() > 0
    # Distinct parameter sets per row, so a mix-up between rows would show.
    flat = fp.flat + 0.01 * torch.randn(fp.flat.shape, generator=g)
    batch = task.batch("train", g)
    leaf = flat.clone().requires_grad_(True)
    loss = task.loss(fp.views(leaf), batch)
    assert loss.shape == (k,)
    assert torch.isfinite(loss).all(), f"initial loss not finite: {loss}"
    (grad,) = torch.autograd.grad(loss.sum(), leaf)
    for i in range(k):
        one = flat[i : i + 1].clone().requires_grad_(True)
        li = task.loss(fp.views(one), batch)
        (gi,) = torch.autograd.grad(li.sum(), one)
        torch.testing.assert_close(li[0], loss[i], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(gi[0], grad[i], rtol=1e-3, atol=1e-5)


def _mean_train_loss(task, params, n: int = 10) -> float:
    with torch.no_grad():
        eg = torch.Generator().manual_seed(123)
        return sum(float(task.loss(params, task.batch("train", eg))) for _ in range(n)) / n


def _adam_before_after(fam, seed: int, steps: int) -> tuple[float, float]:
    """Mean training loss of the family's task ``seed`` before and after ``steps`` of Adam(1e-3)."""
    task = fam.build(fam.sample(seed), name=f"{fam.name}_seed{seed}")
    g = torch.Generator().manual_seed(seed)
    fp = FlatParams(task.init(1, g))
    leaf = fp.flat.clone().requires_grad_(True)
    opt = torch.optim.Adam([leaf], lr=1e-3)

    before = _mean_train_loss(task, fp.views(leaf))
    for _ in range(steps):
        opt.zero_grad()
        task.loss(fp.views(leaf), task.batch("train", g)).sum().backward()
        opt.step()
    return before, _mean_train_loss(task, fp.views(leaf))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_few_adam_steps_lower_the_training_loss(family):
    """The default-suite trainability check: the cheapest task, 30 steps of a sane Adam."""
    fam = get_family(family)
    seed = _cheapest_seeds(family)[0]
    before, after = _adam_before_after(fam, seed, steps=30)
    assert after < before, f"{family}_seed{seed}: training loss {before} -> {after}"


@pytest.mark.slow  # 3 tasks x 200 steps: up to a minute for the word LM
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_sane_adam_lowers_the_training_loss(family):
    fam = get_family(family)
    seeds = _cheapest_seeds(family)
    improved = 0
    for seed in seeds:
        before, after = _adam_before_after(fam, seed, steps=200)
        improved += after < before
    assert improved >= 2, f"Adam lowered the loss on only {improved} of seeds {seeds}"


# --- TaskSet's hand-designed ("fixed") tasks: the same checks, one parameter per task name ---

from taskset_torch.tasks.fixed import build_fixed_task, fixed_task_names, fixed_task_spec  # noqa: E402

#: Fixed tasks with millions of parameters (flows with 2048-wide layers, food101 at 64x64): their
#: K-vectorized check runs under the slow marker. test_fixed_task_builds keeps this list honest.
FIXED_SLOW = {
    "FixedNVP_mnist_2layer_bs64",
    "FixedNVP_mnist_5layer_bs64",
    "FixedMAF_mnist_2layer_bs64",
    "FixedMAF_cifar10_3layer_bs64",
    "FixedImageConv_food10164x64_Conv_32x64x64_flatten_bs64",
}
_FIXED_SLOW_PARAMS = 3_000_000
#: Cheap fixed tasks (at least one of every kind and option) that must train with a sane Adam.
FIXED_TRAINABLE = [
    "TwoD_Bowl10",
    "TwoD_Rosenbrock",
    "FixedMLP_mnist_ce_128x128x128_relu_bs128",
    "FixedMLP_mnist_mse_128x128x128_relu_bs128",
    "FixedMLP_cifar10_Dropout05_128x128_relu_bs128",
    "FixedMLP_cifar10_LayerNorm_128x128x128_tanh_bs128",
    "FixedMLP_cifar10_BatchNorm_64x64x64x64x64_relu_bs128",
    "FixedMLPAE_mnist_32x32x32_bs128",
    "FixedMLPVAE_mnist_128x64x32x64x128_bs64",
    "FixedNVP_mnist_3layer_thin_bs64",
    "FixedMAF_mnist_3layer_thin_bs64",
    "FixedImageConv_cifar10_batchnorm_32x64x64_bs128",
    "Mnist_Conv_32x16x64_flatten_FC32_tanh_bs32",
    "FixedImageConvAE_mnist_32x64x8x64x32_bs128",
    "FixedImageConvVAE_mnist_32x32x32x32x32_bs128",
]
_TEST_BATCH = 8


def _fixed_params(names, slow=frozenset()):
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


def _small_fixed_task(name: str):
    """The task of ``name`` with a test-only batch size (the table's spec is left untouched)."""
    spec = fixed_task_spec(name)
    if "batch_size" in spec:
        spec["batch_size"] = min(spec["batch_size"], _TEST_BATCH)
    return build_fixed_task(name, spec)


@pytest.mark.parametrize("name", fixed_task_names())
def test_fixed_task_builds(name):
    spec = fixed_task_spec(name)
    assert json.loads(json.dumps(spec)) == spec, "a fixed spec must be plain JSON"
    task = _small_fixed_task(name)
    assert task.name == name
    g = torch.Generator().manual_seed(0)
    params = task.init(2, g)
    assert task.num_params() == sum(p[0].numel() for p in params.values()) > 0
    assert task.num_params() <= _FIXED_SLOW_PARAMS or name in FIXED_SLOW, (
        f"{name} has {task.num_params()} parameters: add it to FIXED_SLOW"
    )
    with torch.no_grad():
        loss = task.loss(params, task.batch("train", g))
    assert loss.shape == (2,) and torch.isfinite(loss).all(), f"initial loss {loss}"
    torch.testing.assert_close(loss[0], loss[1])  # the same init for both sets


@pytest.mark.parametrize("name", _fixed_params(fixed_task_names(), FIXED_SLOW))
def test_fixed_vectorized_equals_per_config(name):
    task = _small_fixed_task(name)
    g = torch.Generator().manual_seed(0)
    k = 3
    fp = FlatParams(task.init(k, g))
    flat = fp.flat + 0.01 * torch.randn(fp.flat.shape, generator=g)
    batch = task.batch("train", g)
    leaf = flat.clone().requires_grad_(True)
    loss = task.loss(fp.views(leaf), batch)
    assert loss.shape == (k,) and torch.isfinite(loss).all(), f"loss {loss}"
    (grad,) = torch.autograd.grad(loss.sum(), leaf)
    for i in range(k):
        one = flat[i : i + 1].clone().requires_grad_(True)
        li = task.loss(fp.views(one), batch)
        (gi,) = torch.autograd.grad(li.sum(), one)
        torch.testing.assert_close(li[0], loss[i], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(gi[0], grad[i], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", FIXED_TRAINABLE)
def test_a_sane_adam_lowers_a_fixed_tasks_training_loss(name):
    task = _small_fixed_task(name)
    g = torch.Generator().manual_seed(1)
    fp = FlatParams(task.init(1, g))
    leaf = fp.flat.clone().requires_grad_(True)
    opt = torch.optim.Adam([leaf], lr=2e-3)
    before = _mean_train_loss(task, fp.views(leaf))
    for _ in range(50):
        opt.zero_grad()
        task.loss(fp.views(leaf), task.batch("train", g)).sum().backward()
        opt.step()
    after = _mean_train_loss(task, fp.views(leaf))
    assert after < before, f"{name}: training loss {before} -> {after}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_config_keys_are_checked_the_same_way(family):
    """Every family names a misspelt or missing key and the valid ones, before loading data."""
    fam = get_family(family)
    cfg = fam.sample(0)
    top = cfg[1] if family == "losg_tasks_family" else cfg  # LOSG: [type, sub_config, seed]

    def rebuilt(keys: dict) -> object:
        return [cfg[0], keys, cfg[2]] if family == "losg_tasks_family" else keys

    key = next(iter(top))
    with pytest.raises(ValueError, match=rf"unknown keys \['bogus'\]; valid keys: \[.*'{key}'"):
        fam.build(rebuilt({**top, "bogus": 1}))
    with pytest.raises(ValueError, match=rf"lacks \['{key}'\]; it needs \["):
        fam.build(rebuilt({k: v for k, v in top.items() if k != key}))
