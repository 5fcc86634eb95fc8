"""Sequence and LOSG families: samplers, Sonnet-1 RNN cores, LM/text losses, LOSG problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskset_torch.tasks.language_model import CharLMFamily, WordLMFamily
from taskset_torch.tasks.losg import LOSG_PROBLEM_TYPES, LOSGFamily, sample_losg_config
from taskset_torch.tasks.text_classification import TextClassificationFamily

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "configs"

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


def _close(a, b) -> bool:
    """Structure, ints and strings exact; floats within 1e-12 relative."""
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    return type(a) is type(b) and a == b


# ------------------------------------------------------------------------------------- samplers
@pytest.mark.parametrize("file", sorted(FAMILIES))
def test_reference_configs_reproduce(file):
    path = REF / f"{file}.json"
    if not path.exists():
        pytest.skip(f"{path} not available")
    fam = FAMILIES[file]
    stored = json.loads(path.read_text())
    assert len(stored) == 12
    for name, (cfg, sampler) in stored.items():
        assert sampler == fam.name
        seed = int(name.rsplit("_seed", 1)[1])
        assert name == fam.task_name(seed)
        got = fam.sample(seed)
        assert _close(got, cfg), (name, got, cfg)
        assert json.dumps(got) == json.dumps(cfg)  # key order and float repr too


@pytest.mark.parametrize("seed", sorted(EXTRA_LOSG))
def test_more_stored_losg_configs_reproduce(seed):
    assert json.dumps(sample_losg_config(seed)) == EXTRA_LOSG[seed]


def test_losg_types_cover_all_14_and_stored_entries_cover_them():
    assert len(LOSG_PROBLEM_TYPES) == 14 and list(LOSG_PROBLEM_TYPES) == sorted(LOSG_PROBLEM_TYPES)
    keys = {json.loads(v)[0] for v in EXTRA_LOSG.values()}
    if (REF / "losg_tasks_family.json").exists():
        keys |= {c[0][0] for c in json.loads((REF / "losg_tasks_family.json").read_text()).values()}
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
