"""TaskSet's fixed sequence tasks: text RNN classifiers, byte LMs, associative / copy problems."""

from __future__ import annotations

import math
import re

import pytest
import torch

from taskset_torch.base import DataSource
from taskset_torch.tasks.fixed import build_fixed_task, fixed_task_names, fixed_task_spec
from taskset_torch.tasks.fixed import fixed_language_modeling as flm
from taskset_torch.tasks.fixed import fixed_text_rnn_classification as ftc
from taskset_torch.tasks.fixed import synthetic_sequence as syn
from taskset_torch.tasks.fixed.sonnet_cores import TRUNC_STD, sonnet_core
from taskset_torch.tasks.registry import build_task, task_config
from taskset_torch.tasks.rnn import rnn_core_apply
from tests.conftest import reference_task_names

PREFIXES = {
    "fixed_text_rnn_classification": ("FixedTextRNNClassification_",),
    "synthetic_sequence": ("Associative_", "Copy_"),
    "fixed_language_modeling": ("FixedLM_",),
}


class FakeText:
    """A tiny labelled text dataset: random tokens in ``[0, max_id]``, padding at random ends."""

    source = DataSource("fake", "synthetic", "test tokens")

    def __init__(self, max_id: int, num_classes: int = 2):
        self.max_id, self.num_classes = max_id, num_classes

    def batch(self, split, batch_size, generator):
        g = generator
        patch = 6
        tokens = torch.randint(self.max_id + 1, (batch_size, patch), generator=g)
        lengths = torch.randint(2, patch + 1, (batch_size,), generator=g)
        mask = (torch.arange(patch)[None] < lengths[:, None]).float()
        return {
            "tokens": tokens * mask.long(),
            "mask": mask,
            "label": torch.randint(self.num_classes, (batch_size,), generator=g),
        }


def _reference_names(kind: str) -> list[str]:
    names = reference_task_names()
    return [n for n in names if n.startswith(PREFIXES[kind]) and not n.endswith("_family")]


def _grads(task, params, batch):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    loss = task.loss(leaves, batch)
    g = torch.autograd.grad(loss.sum(), list(leaves.values()))
    return loss.detach(), dict(zip(leaves, g))


def _check_vectorized(task, batch, k=3):
    """Loss and gradients of K different parameter sets equal those of each set alone."""
    sets = [task.init_params(torch.Generator().manual_seed(s)) for s in range(k)]
    stacked = {name: torch.stack([s[name] for s in sets]) for name in sets[0]}
    loss, grads = _grads(task, stacked, batch)
    for i, s in enumerate(sets):
        one, g1 = _grads(task, {n: v[None] for n, v in s.items()}, batch)
        torch.testing.assert_close(loss[i], one[0], rtol=1e-5, atol=1e-6)
        for n in g1:
            torch.testing.assert_close(grads[n][i], g1[n][0], rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------ text classification
@pytest.mark.parametrize("kind", list(PREFIXES))
def test_every_reference_name_resolves(kind):
    want = _reference_names(kind)
    assert sorted(fixed_task_names(kind)) == sorted(want)
    for name in want:
        cfg = task_config(name)
        assert cfg == fixed_task_spec(name) and cfg["dataset"]
        task = build_task(name)
        assert task.name == name
        g = torch.Generator().manual_seed(0)
        assert task.num_params() == sum(p.numel() for p in task.init_params(g).values())


def test_text_specs_follow_their_names():
    pat = re.compile(
        r"FixedTextRNNClassification_imdb_patch(\d+)_(LSTM|GRU|VRNN|IRNN)(\d+)"
        r"(?:_(tanh|relu))?(?:_(?:E|embed)(\d+))?(?:_(avg|last))?_bs(\d+)$"
    )
    for name, spec in ftc.SPECS.items():
        patch, kind, units, act, embed, agg, bs = pat.match(name).groups()
        assert spec["dataset"] == "imdb_reviews/subwords8k" and spec["num_classes"] == 2
        assert (spec["patch_length"], spec["batch_size"]) == (int(patch), int(bs))
        assert spec["embed_dim"] == int(embed or 64) and spec["vocab_size"] == 10000
        assert spec["loss_compute"] == (agg or "last") and spec["trainable_init"] is True
        assert spec["core"] == sonnet_core(kind, int(units), act or "tanh")
        assert spec["num_per_valid"] == 3000 and spec["num_train"] is None


def test_sonnet_default_inits():
    """snt.Linear/LSTM: truncated normal 1/sqrt(fan_in); IRNN: identity; zero initial state."""
    name = "FixedTextRNNClassification_imdb_patch32_IRNN64_relu_last_bs128"
    p = build_task(name).init_params(torch.Generator().manual_seed(0))
    assert torch.equal(p["rnn/hidden_to_hidden/w"], torch.eye(64))
    w = p["rnn/in_to_hidden/w"]  # fan_in = embed 64
    assert w.abs().max() <= 2 / 8 + 1e-6
    assert abs(w.std().item() - TRUNC_STD / 8) < 0.01
    assert not p["rnn/initial_state"].any() and not p["linear/b"].any()
    assert abs(p["embed/embeddings"].std().item() - 1.0) < 0.01  # snt.Embed: N(0, 1)
    lstm = build_task("FixedTextRNNClassification_imdb_patch32_LSTM128_bs128")
    w = lstm.init_params(torch.Generator().manual_seed(0))["rnn/w_gates"]
    assert w.shape == (64 + 128, 512)
    assert abs(w.std().item() - TRUNC_STD / math.sqrt(192)) < 0.003
    assert w.abs().max() <= 2 / math.sqrt(192) + 1e-6


def _small(name: str, **edit) -> dict:
    spec = fixed_task_spec(name)
    spec.update(batch_size=5, **edit)
    return spec


@pytest.mark.parametrize("name", list(ftc.SPECS))
def test_text_classification_vectorized_and_near_ln2(name):
    spec = _small(name)
    task = ftc.build(name, spec, dataset=FakeText(8184))
    batch = task.batch("train", torch.Generator().manual_seed(1))
    _check_vectorized(task, batch)
    if "IRNN" not in name and "relu" not in name:  # relu cores start far from ln 2 (as TaskSet's)
        losses = [
            task.loss(task.init(1, torch.Generator().manual_seed(s)), batch).item()
            for s in range(8)
        ]
        assert abs(sum(losses) / len(losses) - math.log(2)) < 0.25


def test_text_tokens_clipped_to_vocab():
    """TaskSet clips ids >= vocab_size to vocab_size - 1 before embedding."""
    name = "FixedTextRNNClassification_imdb_patch32_GRU64_avg_bs128"
    task = ftc.build(name, _small(name, vocab_size=50), dataset=FakeText(40))
    batch = dict(task.batch("train", torch.Generator().manual_seed(0)))
    params = task.init(2, torch.Generator().manual_seed(0))
    at_clip = dict(batch, tokens=batch["tokens"].clamp(max=49).index_fill(1, torch.tensor([2]), 49))
    beyond = dict(at_clip, tokens=at_clip["tokens"].index_fill(1, torch.tensor([2]), 7000))
    torch.testing.assert_close(task.loss(params, at_clip), task.loss(params, beyond))
    assert params["embed/embeddings"].shape == (2, 50, 64)


@pytest.mark.parametrize("agg", ["last", "avg"])
def test_text_pooling(agg):
    """last = output at the final position (padding included); avg = mean over all positions."""
    name = "FixedTextRNNClassification_imdb_patch32_VRNN64_tanh_avg_bs128"
    task = ftc.build(name, _small(name, loss_compute=agg), dataset=FakeText(100))
    batch = task.batch("train", torch.Generator().manual_seed(0))
    p = task.init(1, torch.Generator().manual_seed(3))
    x = p["embed/embeddings"][:, batch["tokens"].t()]
    out = rnn_core_apply(task.core, p, x)  # [1, T, B, H]
    feat = out[:, -1] if agg == "last" else out.mean(1)
    logits = feat[0] @ p["linear/w"][0] + p["linear/b"][0]
    want = torch.nn.functional.cross_entropy(logits, batch["label"])
    torch.testing.assert_close(task.loss(p, batch)[0], want)


def test_bad_spec_is_a_clear_error():
    name = "FixedTextRNNClassification_imdb_patch32_GRU64_avg_bs128"
    spec = fixed_task_spec(name)
    del spec["embed_dim"]
    with pytest.raises(ValueError, match="embed_dim"):
        build_fixed_task(name, spec)
    with pytest.raises(ValueError, match="loss_compute"):
        build_fixed_task(name, dict(fixed_task_spec(name), loss_compute="mean"))


# ---------------------------------------------------------------------- synthetic sequences
def _tiny_seq(name: str, units: int = 8) -> dict:
    spec = fixed_task_spec(name)
    kind = re.match(r"(?:Associative|Copy)_(LSTM|GRU|VRNN)", name).group(1)
    spec.update(batch_size=4, core=sonnet_core(kind, units))
    return spec


def test_synthetic_specs_follow_their_names():
    for name, spec in syn.SPECS.items():
        m = re.match(
            r"(Associative|Copy)_(LSTM|GRU|VRNN)(\d+)_BS(\d+)_(?:Pairs|Length)(\d+)_Tokens(\d+)$",
            name,
        )
        kind, core, units, bs, n, tokens = m.groups()
        assert spec["core"] == sonnet_core(core, int(units)) and spec["batch_size"] == int(bs)
        if kind == "Associative":
            assert spec["data"] == {"num_pairs": int(n), "num_tokens": int(tokens)}
        else:
            assert spec["data"] == {
                "sequence_length": int(n),
                "num_separator": 1,
                "num_tokens": int(tokens),
            }


def test_associative_batches_are_taskset_s():
    """k1 v1 .. kp vp <query> k: distinct keys; target = k's value at the last step only."""
    task = build_task("Associative_LSTM128_BS128_Pairs5_Tokens20")
    b = task.batch("valid_outer", torch.Generator().manual_seed(0))
    inp, out, mask = b["input"], b["output"], b["loss_mask"]
    assert inp.shape == out.shape == mask.shape == (128, 12) and task.symbols == 22
    keys, values = inp[:, 0:10:2], inp[:, 1:10:2]
    assert (keys < 20).all() and (values < 20).all() and (inp[:, 10] == 21).all()
    assert all(len(set(k.tolist())) == 5 for k in keys)
    hit = keys == inp[:, 11:12]
    assert (hit.sum(1) == 1).all()
    assert torch.equal(out[:, -1], values[hit])
    assert (out[:, :-1] == 20).all()  # <empty>
    assert torch.equal(mask, torch.zeros(128, 12).index_fill(1, torch.tensor([11]), 1.0))
    assert len(set(values.flatten().tolist())) == 20  # values drawn with replacement


def test_copy_batches_are_taskset_s():
    task = build_task("Copy_LSTM128_BS128_Length5_Tokens10")
    b = task.batch("test", torch.Generator().manual_seed(0))
    inp, out, mask = b["input"], b["output"], b["loss_mask"]
    assert inp.shape == (128, 11) and task.symbols == 12
    assert (inp[:, :5] < 10).all() and (inp[:, 5] == 10).all() and (inp[:, 6:] == 11).all()
    assert torch.equal(out[:, 6:], inp[:, :5]) and (out[:, :6] == 0).all()
    assert (mask[:, :6] == 0).all() and (mask[:, 6:] == 1).all()


def test_synthetic_splits_share_one_process():
    task = build_task("Copy_GRU128_BS128_Length20_Tokens10")
    a = task.batch("train", torch.Generator().manual_seed(5))
    b = task.batch("test", torch.Generator().manual_seed(5))
    c = task.batch("train", torch.Generator().manual_seed(6))
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["input"], c["input"])


@pytest.mark.parametrize("name", ["Associative_GRU128_BS128_Pairs10_Tokens50",
                                  "Copy_LSTM128_BS128_Length20_Tokens10",
                                  "Copy_VRNN128_BS128_Length20_Tokens10"])  # fmt: skip
def test_synthetic_vectorized_and_masked(name):
    task = syn.build(name, _tiny_seq(name))
    batch = task.batch("train", torch.Generator().manual_seed(0))
    _check_vectorized(task, batch)
    p = task.init(2, torch.Generator().manual_seed(1))
    # Targets where the mask is 0 do not count.
    other = dict(batch, output=torch.where(batch["loss_mask"] > 0, batch["output"], 1))
    torch.testing.assert_close(task.loss(p, batch), task.loss(p, other))
    # Reference: per-step Linear on the core outputs of one-hot inputs, mask-weighted mean.
    x = torch.nn.functional.one_hot(batch["input"].t(), task.symbols).float()[None]
    out = rnn_core_apply(task.core, {k: v[:1] for k, v in p.items()}, x)[0]  # [T, B, H]
    logits = out @ p["linear/w"][0] + p["linear/b"][0]
    ce = torch.nn.functional.cross_entropy(
        logits.permute(1, 2, 0), batch["output"], reduction="none"
    )
    want = (ce * batch["loss_mask"]).sum() / batch["loss_mask"].sum()
    torch.testing.assert_close(task.loss(p, batch)[0], want)


@pytest.mark.parametrize("name", list(syn.SPECS))
def test_synthetic_initial_loss_near_ln_symbols(name):
    spec = fixed_task_spec(name)
    spec["batch_size"] = 8
    task = syn.build(name, spec)
    loss = task.loss(task.init(1, torch.Generator().manual_seed(0)), task.batch(
        "train", torch.Generator().manual_seed(0)))  # fmt: skip
    assert abs(loss.item() - math.log(task.symbols)) < 0.3
    assert task.data_sources[0].kind == "synthetic"


def test_synthetic_bad_spec():
    name = "Copy_LSTM128_BS128_Length20_Tokens10"
    with pytest.raises(ValueError, match=r"need \[.sequence_length"):
        build_fixed_task(name, dict(fixed_task_spec(name), data={"num_pairs": 3}))
    with pytest.raises(ValueError, match="dataset"):
        build_fixed_task(name, dict(fixed_task_spec(name), dataset="reverse_sequence"))


# -------------------------------------------------------------------------- language models
def test_lm_specs_follow_their_names():
    for name, spec in flm.SPECS.items():
        kind, units = re.match(
            r"FixedLM_lm1b_patch128_(GRU|LSTM)(\d+)_embed64_avg_bs128$", name
        ).groups()
        assert spec["core"] == sonnet_core(kind, int(units))
        assert (spec["dataset"], spec["patch_length"], spec["batch_size"]) == (
            "lm1b/bytes",
            128,
            128,
        )
        assert (spec["vocab_size"], spec["embed_dim"], spec["num_per_valid"]) == (256, 64, 3000)
        assert spec["trainable_init"] is True and spec["mask_padding"] is True


@pytest.mark.parametrize("name", list(flm.SPECS)[:1] + list(flm.SPECS)[3:4])
def test_lm_masked_loss(name):
    spec = fixed_task_spec(name)
    spec.update(batch_size=5, core=sonnet_core(spec["core"][0].upper(), 8))
    task = flm.build(name, spec, dataset=FakeText(255))
    batch = task.batch("train", torch.Generator().manual_seed(0))
    assert (batch["mask"] == 0).any()
    _check_vectorized(task, batch)
    p = task.init(2, torch.Generator().manual_seed(0))
    # Padding (at the end of a patch) changes nothing, whatever its ids.
    noisy = dict(batch, tokens=torch.where(batch["mask"] > 0, batch["tokens"], 77))
    torch.testing.assert_close(task.loss(p, batch), task.loss(p, noisy))
    # Reference: predict token t+1 from outputs at t, mask[:, 1:]-weighted mean.
    one = {k: v[:1] for k, v in p.items()}
    out = rnn_core_apply(task.core, one, one["embed/embeddings"][:, batch["tokens"].t()])[0]
    logits = out[:-1] @ one["linear/w"][0] + one["linear/b"][0]  # [T-1, B, 256]
    ce = torch.nn.functional.cross_entropy(
        logits.permute(1, 2, 0), batch["tokens"][:, 1:], reduction="none"
    )
    m = batch["mask"][:, 1:]
    torch.testing.assert_close(task.loss(p, batch)[0], (ce * m).sum() / m.sum())
    assert abs(task.loss(p, batch).mean().item() - math.log(256)) < 0.3
