"""task_summary.describe_task: the row `taskset-torch tasks` prints for a task."""

from __future__ import annotations

import pytest

from taskset_torch.task_summary import describe_task
from taskset_torch.tasks.registry import build_task


def test_describe_task_sampled_and_fixed():
    row = describe_task("quadratic_family_seed3")
    assert (row["task"], row["kind"], row["family"]) == (
        "quadratic_family_seed3",
        "sampled",
        "quadratic_family",
    )
    assert row["num_params"] == build_task("quadratic_family_seed3").num_params()
    assert row["est_gflop_per_step"] > 0 and "sec_per_step" not in row
    fixed = describe_task("TwoD_Beale", time_steps=2)
    assert (fixed["kind"], fixed["family"], fixed["num_params"]) == ("fixed", "fixed_2d", 2)
    assert fixed["sec_per_step"] > 0


def test_describe_task_names_what_is_wrong():
    with pytest.raises(KeyError, match="not of the form"):
        describe_task("not_a_task")
