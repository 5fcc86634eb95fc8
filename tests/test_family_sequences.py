"""Sequence and LOSG families: samplers, Sonnet-1 RNN cores, LM/text losses, LOSG problems."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from taskset_torch.base import DataSource
from taskset_torch.tasks.language_model import CharLMFamily, WordLMFamily
from taskset_torch.tasks.losg import LOSG_PROBLEM_TYPES, LOSGFamily, sample_losg_config
from taskset_torch.tasks.rnn import rnn_core_apply, rnn_core_params
from taskset_torch.tasks.text_classification import TextClassificationFamily
from tests.conftest import load_reference

FAMILIES = {
    "char_rnn_language_model": CharLMFamily(),
    "word_rnn_language_model": WordLMFamily(),
    "rnn_text_classification": TextClassificationFamily(),
    "losg_tasks_family": LOSGFamily(),
}

# Entries of TaskSet's stored losg_tasks_family.json beyond the 12 reference ones, chosen so that
# every one of the 14 problem types (and nested bases) is checked against stored data.
EXTRA_LOSG = {
    12: '["sparse_problems", {"base": ["bowl", {"cond": 7.841645645578298, "angle": 0.0, '
    '"noise_stdev": 5.704807892772977}], "zero_probability": 0.9810643368705311, '
    '"noise_stdev": 0.01259691743626846}, 95694]',
    109: '["optimization_test_problems", {"problem": "matyas", "noise_stdev": 0.0}, 69928]',
    111: '["min_max_well", {"dim": 40, "noise_stdev": 3.645183327088352}, 29771]',
    114: '["rescale_problems", {"base": ["fully_connected", {"n_features": 1, "n_classes": 2, '
    '"activation": "cos", "bs": 1, "n_samples": 4, "hidden_sizes": [6, 14, 16, 12]}], '
    '"scale": 0.06581615296131653}, 19402]',
    119: '["fully_connected", {"n_features": 2, "n_classes": 2, "activation": "swish", "bs": 28, '
    '"n_samples": 1, "hidden_sizes": [4, 4, 4, 4]}, 41998]',
    123: '["sum_of_quadratics", {"dim": 8, "bs": 3, "n_samples": 1856}, 71946]',
    132: '["dependency_chain", {"dim": 4, "bs": 10, "n_samples": 2470}, 31964]',
    134: '["log_objective", {"base": ["outward_snake", {"dim": 14, "bs": 28, "n_samples": 10697}]}, '
    "66507]",
    135: '["sparse_problems", {"base": ["dependency_chain", {"dim": 62, "bs": 63, "n_samples": 230}], '
    '"zero_probability": 0.9468545109308021, "noise_stdev": 7.795910514195446}, 5255]',
    137: '["optimization_test_problems", {"problem": "StyblinskiTang", '
    '"noise_stdev": 0.1451675431054788}, 76256]',
    148: '["log_objective", {"base": ["fully_connected", {"n_features": 2, "n_classes": 2, '
    '"activation": "tanh", "bs": 182, "n_samples": 24, "hidden_sizes": [9, 28, 8, 9, 14]}]}, 8763]',
    161: '["sparse_problems", {"base": ["norm", {"dim": 56, "norm_power": 0.314199091587172}], '
    '"zero_probability": 0.9734728976745716, "noise_stdev": 0.598504604141549}, 65287]',
}


# ------------------------------------------------------------------------------------- samplers
# TaskSet's 12 stored configs of each family: test_families.test_configs_reproduce_taskset.


@pytest.mark.parametrize("seed", sorted(EXTRA_LOSG))
def test_more_stored_losg_configs_reproduce(seed):
    assert json.dumps(sample_losg_config(seed)) == EXTRA_LOSG[seed]


def test_losg_types_cover_all_14_and_stored_entries_cover_them():
    assert len(LOSG_PROBLEM_TYPES) == 14 and list(LOSG_PROBLEM_TYPES) == sorted(LOSG_PROBLEM_TYPES)
    keys = {json.loads(v)[0] for v in EXTRA_LOSG.values()}
    assert keys <= set(LOSG_PROBLEM_TYPES)
    keys |= {c[0][0] for c in load_reference("losg_tasks_family.json").values()}
    assert keys == set(LOSG_PROBLEM_TYPES)


def test_samplers_all_seeds_well_formed():
    """Seeds 0..999 sample, are JSON data, and stay inside TaskSet's ranges."""
    seen_cores, seen_keys = set(), set()
    for seed in range(1000):
        for fam in FAMILIES.values():
            cfg = fam.sample(seed)
            assert json.loads(json.dumps(cfg)) == cfg
        c = FAMILIES["char_rnn_language_model"].sample(seed)
        assert 8 <= c["embed_dim"] <= 128 and 100 <= c["vocab_size"] <= 256
        assert 10 <= c["dataset"][1]["patch_length"] <= 160
        core, args = c["core"]
        seen_cores.add(core)
        assert 32 <= args["core_dim"] <= 128
        w = FAMILIES["word_rnn_language_model"].sample(seed)
        assert 1000 <= w["vocab_size"] <= 30000 and w["dataset"][0].endswith("subwords8k")
        t = FAMILIES["rnn_text_classification"].sample(seed)
        assert t["loss_compute"] in ("last", "avg", "max") and 100 <= t["vocab_size"] <= 10000
        assert t["dataset"][1]["max_token"] == 8185 and 8 <= t["dataset"][1]["patch_length"] <= 128
        key, sub, rs = sample_losg_config(seed)
        seen_keys.add(key)
        assert isinstance(rs, int) and 0 <= rs < 100000
    assert seen_cores == {"vrnn", "gru", "lstm"}
    assert seen_keys == set(LOSG_PROBLEM_TYPES)


# ------------------------------------------------------------------------------------ RNN cores
class FakeText:
    """A stand-in TextDataset: random tokens (some above the vocab), zero padding, labels."""

    def __init__(self, patch: int, max_token: int, num_classes: int | None = None):
        self.patch, self.max_token, self.num_classes = patch, max_token, num_classes
        self.source = DataSource("fake", "synthetic", "test tokens")

    def batch(self, split, batch_size, generator):
        tok = torch.randint(1, self.max_token, (batch_size, self.patch), generator=generator)
        lengths = torch.randint(2, self.patch + 1, (batch_size,), generator=generator)
        mask = (torch.arange(self.patch)[None] < lengths[:, None]).float()
        out = {"tokens": tok * mask.long(), "mask": mask}
        if self.num_classes:
            out["label"] = torch.randint(self.num_classes, (batch_size,), generator=generator)
        return out

    def to(self, device):
        return self


def _core(kind: str, h: int = 5, act: str = "tanh"):
    init = ["glorot_uniform", None]
    if kind == "vrnn":
        return [
            "vrnn",
            {"hidden_to_hidden": init, "in_to_hidden": init, "act_fn": act, "core_dim": h},
        ]
    if kind == "gru":
        return ["gru", {"core_dim": h, **{k: init for k in ("wh", "wz", "wr", "uh", "uz", "ur")}}]
    return ["lstm", {"w_gates": init, "core_dim": h}]


def _random_core_params(kind, e, h, g, trainable=True):
    p = rnn_core_params(_core(kind, h), e, g, trainable_init=trainable)
    # Non-zero biases and initial states so every term of the equations is exercised.
    return {k: (v + 0.3 * torch.randn(v.shape, generator=g)).double() for k, v in p.items()}


def test_vrnn_matches_torch_rnn_cell():
    g = torch.Generator().manual_seed(0)
    e, h, b, t = 3, 4, 2, 6
    p = _random_core_params("vrnn", e, h, g)
    x = torch.randn(1, t, b, e, generator=g, dtype=torch.float64)
    out = rnn_core_apply(_core("vrnn", h), {k: v[None] for k, v in p.items()}, x)[0]
    cell = torch.nn.RNNCell(e, h, nonlinearity="tanh").double()
    with torch.no_grad():
        cell.weight_ih.copy_(p["rnn/in_to_hidden/w"].t())
        cell.bias_ih.copy_(p["rnn/in_to_hidden/b"])
        cell.weight_hh.copy_(p["rnn/hidden_to_hidden/w"].t())
        cell.bias_hh.copy_(p["rnn/hidden_to_hidden/b"])
        state = p["rnn/initial_state"].expand(b, h)
        for i in range(t):
            state = cell(x[0, i], state)
            torch.testing.assert_close(out[i], state)


def test_lstm_matches_torch_lstm_cell_with_forget_bias_one():
    g = torch.Generator().manual_seed(1)
    e, h, b, t = 3, 4, 2, 5
    p = _random_core_params("lstm", e, h, g)
    x = torch.randn(1, t, b, e, generator=g, dtype=torch.float64)
    out = rnn_core_apply(_core("lstm", h), {k: v[None] for k, v in p.items()}, x)[0]
    w, bias = p["rnn/w_gates"], p["rnn/b_gates"]  # columns: Sonnet's i, j, f, o
    i, j, f, o = (slice(k * h, (k + 1) * h) for k in range(4))
    order = [i, f, j, o]  # torch's gate order: input, forget, cell, output
    cell = torch.nn.LSTMCell(e, h).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.cat([w[:e, s] for s in order], 1).t())
        cell.weight_hh.copy_(torch.cat([w[e:, s] for s in order], 1).t())
        cell.bias_ih.copy_(torch.cat([bias[i], bias[f] + 1.0, bias[j], bias[o]]))
        cell.bias_hh.zero_()
        hc = (p["rnn/initial_state"].expand(b, h), p["rnn/initial_cell"].expand(b, h))
        for k in range(t):
            hc = cell(x[0, k], hc)
            torch.testing.assert_close(out[k], hc[0])


def test_gru_follows_sonnet_equations():
    g = torch.Generator().manual_seed(2)
    e, h, b, t = 3, 4, 2, 5
    p = _random_core_params("gru", e, h, g)
    x = torch.randn(1, t, b, e, generator=g, dtype=torch.float64)
    out = rnn_core_apply(_core("gru", h), {k: v[None] for k, v in p.items()}, x)[0]
    a = {k: v.numpy() for k, v in p.items()}
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    state = np.broadcast_to(a["rnn/initial_state"], (b, h))
    for k in range(t):
        xt = x[0, k].numpy()
        z = sig(xt @ a["rnn/wz"] + state @ a["rnn/uz"] + a["rnn/bz"])
        r = sig(xt @ a["rnn/wr"] + state @ a["rnn/ur"] + a["rnn/br"])
        cand = np.tanh(xt @ a["rnn/wh"] + (r * state) @ a["rnn/uh"] + a["rnn/bh"])
        state = (1 - z) * state + z * cand
        np.testing.assert_allclose(out[k].numpy(), state, rtol=1e-10, atol=1e-12)


def test_core_initializers_follow_sonnet():
    g = torch.Generator().manual_seed(3)
    e, h = 20, 100
    gru = rnn_core_params(_core("gru", h), e, g, trainable_init=False)
    lim = math.sqrt(3.0 / h)  # glorot_uniform on a [H] bias: fans (H, H)
    for k in ("bz", "br", "bh"):
        v = gru[f"rnn/{k}"]
        assert v.abs().max() <= lim and v.abs().max() > 0.8 * lim
    assert "rnn/initial_state" not in gru
    lstm = rnn_core_params(_core("lstm", h), e, g, trainable_init=True)
    assert lstm["rnn/w_gates"].shape == (e + h, 4 * h)
    std = 1.0 / math.sqrt(e + h)  # Sonnet's default linear initializer for b_gates
    b = lstm["rnn/b_gates"]
    assert b.abs().max() <= 2 * std and 0.7 * std < b.std() < 1.0 * std
    assert lstm["rnn/initial_state"].abs().sum() == 0 and lstm["rnn/initial_cell"].shape == (h,)
    vrnn = rnn_core_params(_core("vrnn", h), e, g, trainable_init=True)
    assert vrnn["rnn/in_to_hidden/b"].abs().sum() == 0 and vrnn["rnn/initial_state"].shape == (h,)


def test_bad_core_specs_are_rejected_clearly():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="unknown RNN core 'rnn'"):
        rnn_core_params(["rnn", {"core_dim": 4}], 3, g, trainable_init=False)
    with pytest.raises(ValueError, match="lack"):
        rnn_core_params(["gru", {"core_dim": 4}], 3, g, trainable_init=False)
    with pytest.raises(ValueError, match="core_dim"):
        rnn_core_params(
            ["lstm", {"w_gates": ["he_normal", None], "core_dim": 0}], 3, g, trainable_init=False
        )
    with pytest.raises(ValueError, match="unknown activation"):
        rnn_core_params(_core("vrnn", 4, act="gelu"), 3, g, trainable_init=False)


# ------------------------------------------------------------------------ LM / text tasks
def _lm_config(kind: str, vocab: int = 40, trainable: bool = True, patch: int = 7) -> dict:
    return {
        "embed_dim": 6,
        "w_init": ["he_normal", None],
        "vocab_size": vocab,
        "core": _core(kind, 5),
        "trainable_init": trainable,
        "dataset": [
            "lm1b/bytes",
            {"patch_length": patch, "batch_size": 4, "just_train": False, "num_train": None},
        ],
    }


def _tc_config(kind: str, loss_compute: str, vocab: int = 9000) -> dict:
    ds = {"bs": 4, "num_train": None, "max_token": 8185, "just_train": False, "patch_length": 6}
    return {
        "embed_dim": 6,
        "w_init": ["glorot_normal", None],
        "dataset": ["tokenized_amazon_reviews/Books_v1_02_bytes", ds],
        "vocab_size": vocab,
        "core": _core(kind, 5),
        "trainable_init": True,
        "loss_compute": loss_compute,
    }


def _perturbed(task, n, g):
    """n distinct parameter sets (one init plus per-set noise)."""
    return {k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in task.init(n, g).items()}


def _check_vectorized(task, batch, g, n=3):
    params = {k: v.requires_grad_(True) for k, v in _perturbed(task, n, g).items()}
    loss = task.loss(params, batch)
    assert loss.shape == (n,) and torch.isfinite(loss).all()
    grads = torch.autograd.grad(loss.sum(), list(params.values()))
    for i in range(n):
        one = {k: v[i : i + 1].detach().clone().requires_grad_(True) for k, v in params.items()}
        li = task.loss(one, batch)
        gi = torch.autograd.grad(li.sum(), list(one.values()))
        torch.testing.assert_close(li[0], loss[i], rtol=1e-5, atol=1e-6)
        for a, b in zip(gi, grads):
            torch.testing.assert_close(a[0], b[i], rtol=1e-4, atol=1e-6)
    # A diverged set cannot disturb the others.
    bad = {k: v.detach().clone() for k, v in params.items()}
    bad["linear/w"][0] = float("nan")
    out = task.loss(bad, batch)
    assert torch.isnan(out[0]) and torch.allclose(out[1:], loss[1:].detach())


@pytest.mark.parametrize("kind", ["vrnn", "gru", "lstm"])
def test_lm_vectorized_equals_per_config(kind):
    g = torch.Generator().manual_seed(4)
    task = CharLMFamily().build(_lm_config(kind), dataset=FakeText(7, 60))
    assert task.num_params() == sum(v.numel() for v in task.init_params(g).values())
    _check_vectorized(task, task.batch("train", g), g)


def test_lm_loss_is_unmasked_next_token_cross_entropy_by_default():
    g = torch.Generator().manual_seed(5)
    vocab = 40
    task = CharLMFamily().build(_lm_config("gru", vocab), dataset=FakeText(7, 60))
    masked = CharLMFamily().build(
        _lm_config("gru", vocab), mask_padding=True, dataset=FakeText(7, 60)
    )
    batch = task.batch("train", g)
    assert (batch["mask"] == 0).any() and (batch["tokens"] >= vocab).any()
    params = task.init(1, g)
    tokens = batch["tokens"].clamp(max=vocab - 1)  # TaskSet clips to vocab_size - 1
    x = params["embed/embeddings"][0][tokens]  # [B, T, E]
    out = rnn_core_apply(task.core, params, x.transpose(0, 1)[None])[0].transpose(0, 1)
    logits = out[:, :-1] @ params["linear/w"][0] + params["linear/b"][0]
    ce = F.cross_entropy(logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1), reduction="none")
    torch.testing.assert_close(task.loss(params, batch)[0], ce.mean())
    w = batch["mask"][:, 1:].reshape(-1)
    torch.testing.assert_close(masked.loss(params, batch)[0], (ce * w).sum() / w.sum())


@pytest.mark.parametrize("loss_compute", ["last", "avg", "max"])
@pytest.mark.parametrize("kind", ["vrnn", "gru", "lstm"])
def test_text_classification_vectorized_and_aggregation(kind, loss_compute):
    g = torch.Generator().manual_seed(6)
    task = TextClassificationFamily().build(
        _tc_config(kind, loss_compute), dataset=FakeText(6, 9000, 2)
    )
    batch = task.batch("train", g)
    _check_vectorized(task, batch, g)
    params = task.init(1, g)
    tokens = batch["tokens"].clamp(max=8184)
    x = params["embed/embeddings"][0][tokens].transpose(0, 1)[None]
    out = rnn_core_apply(task.core, params, x)[0]  # [T, B, H]
    agg = {"last": out[-1], "avg": out.mean(0), "max": out.max(0).values}[loss_compute]
    logits = agg @ params["linear/w"][0] + params["linear/b"][0]
    torch.testing.assert_close(task.loss(params, batch)[0], F.cross_entropy(logits, batch["label"]))


def test_text_classification_keeps_taskset_quirks():
    task = TextClassificationFamily().build(_tc_config("gru", "avg", vocab=9813))
    # Every key loads IMDB subwords8k (2 classes, 3000 per validation split, just_train unused).
    assert task.dataset_name == "imdb_reviews/subwords8k" and task.out_dim == 2
    assert task.dataset_kwargs == {"patch_length": 6, "num_train": None, "num_per_valid": 3000}
    assert task.vocab_size == 8185  # min(vocab_size, max_token)
    other = TextClassificationFamily().build(_tc_config("gru", "avg"), faithful_dataset=False)
    assert other.dataset_name == "tokenized_amazon_reviews/Books_v1_02_bytes" and other.out_dim == 5
    with pytest.raises(ValueError, match="loss_compute"):
        TextClassificationFamily().build({**_tc_config("gru", "avg"), "loss_compute": "sum"})
    with pytest.raises(ValueError, match="dataset"):
        bad = _tc_config("gru", "avg")
        bad["dataset"] = ["imdb_reviews/bytes", bad["dataset"][1]]
        TextClassificationFamily().build(bad)


def test_lm_families_pass_taskset_dataset_settings():
    char = CharLMFamily().build(CharLMFamily().sample(100))  # just_train, num_train 29180
    assert char.dataset_name == "tokenized_amazon_reviews/Books_v1_02_bytes"
    assert char.dataset_kwargs == {
        "patch_length": 118,
        "num_train": 29180,
        "num_per_valid": 3000,
        "just_train": True,
    }
    assert char.batch_size == 19 and char.vocab_size == 256
    word = WordLMFamily().build(WordLMFamily().sample(0))
    assert word.dataset_kwargs["num_per_valid"] == 10000 and word.vocab_size == 6381
    with pytest.raises(ValueError, match="lacks"):
        CharLMFamily().build({"embed_dim": 8})
    with pytest.raises(ValueError, match="not one of"):
        CharLMFamily().build(WordLMFamily().sample(0))


def test_adam_fits_a_predictable_sequence():
    """A tiny LM learns a deterministic cycle: the loss must fall far below log(vocab)."""

    class Cycle(FakeText):
        def batch(self, split, batch_size, generator):
            start = torch.randint(0, 5, (batch_size, 1), generator=generator)
            tokens = (start + torch.arange(self.patch)) % 5 + 1
            return {"tokens": tokens, "mask": torch.ones(batch_size, self.patch)}

    g = torch.Generator().manual_seed(7)
    task = CharLMFamily().build(_lm_config("lstm", vocab=8, patch=8), dataset=Cycle(8, 8))
    params = {k: v.requires_grad_(True) for k, v in task.init(1, g).items()}
    opt = torch.optim.Adam(params.values(), lr=0.03)
    with torch.no_grad():
        first = float(task.loss(params, task.batch("train", g)))
    for _ in range(150):
        opt.zero_grad()
        task.loss(params, task.batch("train", g)).sum().backward()
        opt.step()
    with torch.no_grad():
        last = float(task.loss(params, task.batch("train", g)))
    assert last < 0.2 * first and last < 0.3


# ------------------------------------------------------------------------------------------ LOSG
def _losg_configs() -> dict[str, list]:
    """Every stored LOSG config here (the extras and the 12 reference ones): all 14 problem types."""
    cfgs = {f"seed{s}": json.loads(v) for s, v in EXTRA_LOSG.items()}
    cfgs.update({k: v[0] for k, v in load_reference("losg_tasks_family.json").items()})
    return cfgs


@pytest.mark.parametrize("name", sorted(_losg_configs()))
def test_losg_problem_vectorized_equals_per_config(name):
    cfg = _losg_configs()[name]
    task = LOSGFamily().build(cfg, name=name)
    g = torch.Generator().manual_seed(8)
    assert task.num_params() == sum(v.numel() for v in task.init_params(g).values())
    assert task.data_sources[0].kind == "synthetic"
    params = {k: v.requires_grad_(True) for k, v in _perturbed(task, 3, g).items()}
    batch = task.batch("valid_outer", g)
    loss = task.loss(params, batch)
    assert loss.shape == (3,)
    grads = torch.autograd.grad(loss.sum(), list(params.values()))
    for i in range(3):
        one = {k: v[i : i + 1].detach().clone().requires_grad_(True) for k, v in params.items()}
        li = task.loss(one, batch)
        gi = torch.autograd.grad(li.sum(), list(one.values()))
        torch.testing.assert_close(li[0], loss[i], rtol=1e-5, atol=1e-6, equal_nan=True)
        for a, b in zip(gi, grads):
            torch.testing.assert_close(a[0], b[i], rtol=1e-4, atol=1e-5, equal_nan=True)


def test_losg_quadratic_and_norm_use_taskset_seeded_data():
    cfg = ["quadratic", {"dim": 7, "noise_stdev": 0.0}, 1234]
    task = LOSGFamily().build(cfg)
    rng = np.random.RandomState(1234)  # LOSG: np.random.seed(random_seed); randn(d, d); randn(d, 1)
    w = rng.randn(7, 7).astype(np.float32)
    y = rng.randn(7, 1).astype(np.float32)
    np.testing.assert_array_equal(task.problem.w.numpy(), w)
    x = torch.randn(2, 7, 1, generator=torch.Generator().manual_seed(0))
    want = 0.5 * ((w.astype(np.float64) @ x.double().numpy() - y) ** 2).sum((1, 2))
    np.testing.assert_allclose(
        task.loss({"param0": x}, task.batch("train", torch.Generator().manual_seed(0))).numpy(),
        want,
        rtol=1e-5,
    )
    norm = LOSGFamily().build(["norm", {"dim": 7, "norm_power": 3.0}, 1234])
    diff = np.abs(w.astype(np.float64) @ x.double().numpy() - y) + 1e-6
    want = (diff**3).sum((1, 2)) ** (1 / 3)
    np.testing.assert_allclose(norm.loss({"param0": x}, {}).numpy(), want, rtol=1e-5)


def test_losg_objectives_match_their_definitions():
    x = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    a, b = x[:, 0], x[:, 1]
    cases = {
        "rosenbrock": (1 - a) ** 2 + 100 * (b - a**2) ** 2,
        "matyas": 0.26 * (a**2 + b**2) - 0.48 * a * b,
        "StyblinskiTang": 0.5 * (a**4 - 16 * a**2 + 5 * a + b**4 - 16 * b**2 + 5 * b) + 80,
        "beale": (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2,
    }
    for prob, want in cases.items():
        task = LOSGFamily().build(
            ["optimization_test_problems", {"problem": prob, "noise_stdev": 0.0}, 1]
        )
        torch.testing.assert_close(task.loss({"param0": x}, {}), want)
    ackley = LOSGFamily().build(
        ["optimization_test_problems", {"problem": "ackley", "noise_stdev": 0.0}, 1]
    )
    assert float(ackley.loss({"param0": torch.zeros(1, 2)}, {})[0]) == pytest.approx(0.0, abs=1e-5)
    bowl = LOSGFamily().build(["bowl", {"cond": 4.0, "angle": 0.0, "noise_stdev": 0.0}, 1])
    torch.testing.assert_close(
        bowl.loss({"param0": torch.tensor([[[1.0], [1.0]]])}, {}), torch.tensor([2.5])
    )
    chain = LOSGFamily().build(["dependency_chain", {"dim": 2, "bs": 1, "n_samples": 100}, 1])
    p = torch.tensor([[1.0, 2.0, 3.0]])  # LOSG counts p0^2 once per term: 2*1 + 4/(1+e) + 9/(4+e)
    want = 2 + 4 / (1 + 1e-6) + 9 / (4 + 1e-6)
    assert float(chain.loss({"param0": p}, {})[0]) == pytest.approx(want, rel=1e-6)
    well = LOSGFamily().build(["min_max_well", {"dim": 3, "noise_stdev": 0.0}, 1])
    assert float(well.loss({"param0": torch.tensor([[0.5, 2.0, -1.0]])}, {})[0]) == pytest.approx(
        4 + 4 - 2
    )


def test_losg_datasets_follow_their_generators():
    task = LOSGFamily().build(["sum_of_quadratics", {"dim": 4, "bs": 16, "n_samples": 101}, 7])
    data = task.dataset.data
    assert data.shape == (100, 4)  # n_samples rounded down to even; x then -x
    torch.testing.assert_close(data[:50], -data[50:])
    assert float(
        task.loss(
            {"param0": torch.zeros(1, 1, 4)}, task.batch("train", torch.Generator().manual_seed(0))
        )[0]
    ) == pytest.approx(1e-12, abs=1e-4)
    ssr = LOSGFamily().build(
        [
            "sparse_softmax_regression",
            {"n_features": 3, "n_classes": 2, "noise_stdev": 0.0, "bs": 8, "n_samples": 30},
            7,
        ]
    )
    x, y = ssr.dataset.data, ssr.dataset.labels
    assert x.shape == (30, 5) and set(x.unique().tolist()) <= {0.0, 1.0}
    parity = x.sum(1).long() % 2  # labels are the parity, flipped with probability 0.25
    assert 0.5 < float((parity == y).float().mean()) < 1.0
    fc = LOSGFamily().build(
        [
            "fully_connected",
            {
                "n_features": 3,
                "n_classes": 2,
                "activation": "relu",
                "bs": 5,
                "n_samples": 200,
                "hidden_sizes": [4, 4],
            },
            7,
        ]
    )
    assert set(fc.dataset.labels.unique().tolist()) <= {0, 1}
    again = LOSGFamily().build(
        [
            "fully_connected",
            {
                "n_features": 3,
                "n_classes": 2,
                "activation": "relu",
                "bs": 5,
                "n_samples": 200,
                "hidden_sizes": [4, 4],
            },
            7,
        ]
    )
    torch.testing.assert_close(fc.dataset.data, again.dataset.data)  # deterministic given config
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(
        fc.batch("train", g1)["data"], fc.batch("test", g2)["data"]
    )  # split ignored
    with pytest.raises(ValueError, match="unknown split"):
        fc.batch("validation", g1)


def test_losg_gradient_noise_changes_gradients_not_values():
    cfg = ["quadratic", {"dim": 5, "noise_stdev": 0.7}, 3]
    noisy, clean = (
        LOSGFamily().build(cfg),
        LOSGFamily().build([cfg[0], {**cfg[1], "noise_stdev": 0.0}, 3]),
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 1, generator=g).requires_grad_(True)
    batch = noisy.batch("train", g)
    ln, lc = noisy.loss({"param0": x}, batch), clean.loss({"param0": x}, batch)
    assert torch.equal(ln, lc)
    (gn,) = torch.autograd.grad(ln.sum(), x)
    (gc,) = torch.autograd.grad(lc.sum(), x)
    torch.testing.assert_close(gn - gc, 0.7 * batch["noise/param0"].expand(2, 5, 1))


def test_losg_sparse_problem_masks_gradient_entries():
    cfg = [
        "sparse_problems",
        {
            "base": ["quadratic", {"dim": 200, "noise_stdev": 5.0}],
            "zero_probability": 0.9,
            "noise_stdev": 0.5,
        },
        3,
    ]
    task = LOSGFamily().build(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 200, 1, generator=g).requires_grad_(True)
    batch = task.batch("train", g)
    keep = batch["keep/param0"]
    assert 0.03 < float(keep.mean()) < 0.2  # zero_probability 0.9
    loss = task.loss({"param0": x}, batch)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    base = LOSGFamily().build(["quadratic", {"dim": 200, "noise_stdev": 0.0}, 3])
    (gb,) = torch.autograd.grad(base.loss({"param0": x}, {}).sum(), x)
    torch.testing.assert_close(loss, base.loss({"param0": x}, {}))
    # Masked entries are exactly 0; the rest get the sparse wrapper's noise (0.5), not the base's (5).
    torch.testing.assert_close(grad, keep * (gb + 0.5 * batch["noise/param0"]))


def test_losg_modifier_inits_follow_losg():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    base = ["optimization_test_problems", {"problem": "rosenbrock", "noise_stdev": 0.0}]
    rescaled = LOSGFamily().build(["rescale_problems", {"base": base, "scale": 10.0}, 1])
    plain = LOSGFamily().build([*base, 1])
    torch.testing.assert_close(
        rescaled.init_params(g1)["param0"], 10.0 * plain.init_params(g2)["param0"]
    )
    p = plain.init_params(torch.Generator().manual_seed(0))["param0"]
    assert ((p >= -5) & (p <= 10)).all()  # Rosenbrock's own U(-5, 10)
    logged = LOSGFamily().build(["log_objective", {"base": base}, 1])
    # LogObjective does not delegate init: N(0, 1) like LOSG's base Problem.
    torch.testing.assert_close(
        logged.init_params(torch.Generator().manual_seed(0))["param0"],
        torch.randn(2, generator=torch.Generator().manual_seed(0)),
    )
    x = torch.tensor([[3.0, 2.0]])
    torch.testing.assert_close(rescaled.loss({"param0": x * 10}, {}), plain.loss({"param0": x}, {}))
    want = torch.log(plain.loss({"param0": x}, {}) + 1e-6) - math.log(1e-6)
    torch.testing.assert_close(logged.loss({"param0": x}, {}), want)


def test_bad_losg_configs_are_rejected_clearly():
    fam = LOSGFamily()
    with pytest.raises(ValueError, match="unknown LOSG problem type"):
        fam.build(["cubic", {}, 1])
    with pytest.raises(ValueError, match=r"\[key, sub_config, random_seed\]"):
        fam.build(["quadratic", {"dim": 3, "noise_stdev": 0.0}])
    with pytest.raises(ValueError, match="lacks"):
        fam.build(["quadratic", {"dim": 3}, 1])
    with pytest.raises(ValueError, match="random_seed"):
        fam.build(["quadratic", {"dim": 3, "noise_stdev": 0.0}, -1])
    with pytest.raises(ValueError, match="base must be one of"):
        fam.build(["log_objective", {"base": ["sparse_softmax_regression", {}]}, 1])
    with pytest.raises(ValueError, match="n_classes=2"):
        fam.build(
            [
                "sparse_softmax_regression",
                {"n_features": 3, "n_classes": 3, "noise_stdev": 0.0, "bs": 2, "n_samples": 4},
                1,
            ]
        )
    with pytest.raises(ValueError, match="unknown optimization test problem"):
        fam.build(["optimization_test_problems", {"problem": "himmelblau", "noise_stdev": 0.0}, 1])


def test_adam_lowers_most_losg_losses():
    fam, improved, tried = LOSGFamily(), 0, 0
    for seed in range(24):
        task = fam.build(fam.sample(seed))
        if task.num_params() > 2000:
            continue
        tried += 1
        g = torch.Generator().manual_seed(seed)
        params = {k: v.requires_grad_(True) for k, v in task.init(1, g).items()}
        opt = torch.optim.Adam(params.values(), lr=1e-2)
        ev = torch.Generator().manual_seed(99)
        with torch.no_grad():
            before = float(sum(task.loss(params, task.batch("train", ev)) for _ in range(5)))
        for _ in range(150):
            opt.zero_grad()
            task.loss(params, task.batch("train", g)).sum().backward()
            opt.step()
        ev = torch.Generator().manual_seed(99)
        with torch.no_grad():
            after = float(sum(task.loss(params, task.batch("train", ev)) for _ in range(5)))
        improved += after < before
    assert tried >= 15 and improved >= 0.8 * tried, (improved, tried)
