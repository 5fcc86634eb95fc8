"""Normalization reference: the zero optimizer's loss (TaskSet's) or the step-0 loss."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hparam_lists import learn_list
from hparam_lists.importers import read_store
from hparam_lists.normalize import compute_scores, resolve_norm_ref, zero_reference
from taskset_torch.cli import main
from taskset_torch.curves import Curves


def _curves(step0=2.0, zero_loss=None) -> Curves:
    """One task, 3 configs, 1 seed, steps 0/10/20: finals 0.5, 1.0 and 3.0 (worse than zero)."""
    finals = np.array([0.5, 1.0, 3.0])
    v = np.empty((1, 3, 1, 3, 4), np.float32)
    v[0, :, 0, 0] = step0
    v[0, :, 0, 1] = finals[:, None]
    v[0, :, 0, 2] = finals[:, None]
    return Curves(
        values=v,
        tasks=("t",),
        config_names=tuple(f"adam1p_wide_grid_seed{i}" for i in range(3)),
        seeds=(0,),
        steps=np.array([0, 10, 20]),
        space="adam1p_wide_grid",
        hparams=tuple({"learning_rate": 10.0**-i} for i in range(3)),
        zero_loss=None if zero_loss is None else np.full((1, 4), zero_loss),
    )


def test_zero_reference_is_mean_after_step0_then_median_over_seeds():
    z = np.zeros((3, 4, 4))
    z[:, 0] = 99.0  # step 0: the untrained init, not the zero model
    z[:, 1:] = np.array([1.0, 2.0, 4.0])[:, None, None]
    z[2, 2, 1] = np.nan  # a seed with a non-finite value is left out of the median
    ref = zero_reference(z, np.array([0, 10, 20, 30]))
    np.testing.assert_allclose(ref, [2.0, 1.5, 2.0, 2.0])
    assert np.isnan(zero_reference(z[:, :1], np.array([0]))).all()  # no zero curve
    z[:, 1, 3] = np.nan  # every seed NaN: the curve exists but has no loss
    assert zero_reference(z, np.array([0, 10, 20, 30]))[3] == np.inf


def test_zero_reference_keeps_a_badly_initialized_task_discriminating():
    bad_init = _curves(step0=1e9, zero_loss=1.5)
    step0 = compute_scores(bad_init, "valid_inner", score="final", norm_ref="step0")
    zero = compute_scores(bad_init, "valid_inner", score="final", norm_ref="zero")
    assert step0.norm_ref == "step0" and zero.norm_ref == "zero"
    # step0: 1 = 1e9, every config scores ~0 and the task no longer tells them apart.
    assert np.ptp(step0.values) < 1e-8
    # zero: 0 = best (0.5), 1 = zero loss (1.5); a config worse than the zero model clips to 1.
    np.testing.assert_allclose(zero.values[0, 0], [0.0, 0.5, 1.0])
    assert zero.high[0] == 1.5 and zero.low[0] == 0.5


def test_auto_uses_zero_when_every_task_has_it_and_falls_back_to_step0():
    assert resolve_norm_ref(_curves(zero_loss=1.5), "valid_inner") == "zero"
    assert resolve_norm_ref(_curves(), "valid_inner") == "step0"
    assert compute_scores(_curves(), "valid_inner").norm_ref == "step0"
    with pytest.raises(ValueError, match="zero optimizer's loss of every task"):
        compute_scores(_curves(), "valid_inner", norm_ref="zero")
    with pytest.raises(ValueError, match="valid: auto, zero, step0"):
        compute_scores(_curves(), "valid_inner", norm_ref="median")


def test_learned_list_says_which_reference_was_used():
    assert learn_list(_curves(zero_loss=1.5)).provenance["norm_ref"] == "zero"
    assert learn_list(_curves()).provenance["norm_ref"] == "step0"


GEN = [
    "generate",
    "mlp_family_seed104",
    "quadratic_family_seed106",
    "--space",
    "adam1p_wide_grid",
    "--configs",
    "0-3",
    "--seeds",
    "0",
    "--steps",
    "4",
    "--eval-every",
    "2",
    "--eval-batches",
    "1",
    "--quiet",
]


def test_generate_records_zero_curve_once_per_task_and_seed(tmp_path, capsys):
    store = tmp_path / "store"
    assert main([*GEN, "--store", str(store)]) == 0
    zero_files = sorted(store.glob("*/zero/*.npz"))
    assert len(zero_files) == 2
    curves = read_store(store, space="adam1p_wide_grid")
    assert curves.config_names == tuple(f"adam1p_wide_grid_seed{i}" for i in range(4))
    assert curves.zero_loss is not None and np.isfinite(curves.zero_loss).all()
    # The MLP classifier with all weights at 0 predicts uniformly: loss = ln(classes).
    mlp = curves.tasks.index("mlp_family_seed104")
    n_classes = 10
    np.testing.assert_allclose(curves.zero_loss[mlp], np.log(n_classes), rtol=1e-5)
    capsys.readouterr()
    out = tmp_path / "list.json"
    assert (
        main(["learn", "--store", str(store), "--space", "adam1p_wide_grid", "--out", str(out)])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["norm_ref"] == "zero"
    assert json.loads(out.read_text())["provenance"]["norm_ref"] == "zero"
    # Asking for step0 is honoured and recorded.
    args = ["learn", "--store", str(store), "--space", "adam1p_wide_grid", "--out", str(out)]
    assert main([*args, "--norm-ref", "step0"]) == 0
    assert json.loads(capsys.readouterr().out)["norm_ref"] == "step0"


def test_without_zero_curves_auto_falls_back_aloud(tmp_path, capsys):
    store = tmp_path / "store"
    assert main([*GEN, "--no-zero", "--store", str(store)]) == 0
    assert not list(store.glob("*/zero"))
    capsys.readouterr()
    args = ["learn", "--store", str(store), "--space", "adam1p_wide_grid"]
    assert main([*args, "--out", str(tmp_path / "l.json")]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["norm_ref"] == "step0" and "step-0 loss" in err
    assert main([*args, "--out", str(tmp_path / "m.json"), "--norm-ref", "zero"]) == 2
    assert "zero optimizer" in capsys.readouterr().err


def test_an_unusable_zero_loss_keeps_the_step0_reference_for_that_task():
    # A quadratic's all-zero point is its optimum (zero loss 0 < best 0.5); a log objective's is
    # -inf. Either task keeps the step-0 reference instead of scoring 1 everywhere.
    for bad in (0.0, -np.inf, np.inf):
        c = _curves(step0=2.0, zero_loss=bad)
        s = compute_scores(c, "valid_inner", score="final", norm_ref="zero")
        assert s.norm_ref == "zero" and s.step0_tasks == ("t",)
        assert s.high[0] == 2.0
        np.testing.assert_allclose(s.values[0, 0, :2], [0.0, 0.5 / 1.5], rtol=1e-6)
    ok = compute_scores(_curves(zero_loss=1.5), "valid_inner", norm_ref="zero")
    assert ok.step0_tasks == ()
    hlist = learn_list(_curves(zero_loss=0.0))
    assert hlist.provenance["norm_ref_step0_tasks"] == ["t"]


def test_zero_curve_is_shared_by_runs_with_either_randomness(tmp_path, capsys):
    store = tmp_path / "store"
    assert main([*GEN, "--store", str(store)]) == 0
    before = {p: p.stat().st_mtime_ns for p in store.glob("*/zero/*.npz")}
    other = [a if a != "adam1p_wide_grid" else "adam4p_wide_grid" for a in GEN]
    assert main([*other, "--independent", "--configs", "0-1", "--store", str(store)]) == 0
    assert {p: p.stat().st_mtime_ns for p in store.glob("*/zero/*.npz")} == before
    curves = read_store(store, space="adam4p_wide_grid")
    assert curves.zero_loss is not None and np.isfinite(curves.zero_loss).all()
