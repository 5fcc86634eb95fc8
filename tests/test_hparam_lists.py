"""Normalization, greedy list objectives, exact random search and evaluation (hparam_lists)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hparam_lists.crossval import cross_validate
from hparam_lists.evaluate import (
    compare_lists,
    evaluate_list,
    explicit_split,
    family_splits,
    kfold_splits,
    leave_n_out_splits,
    present_prefix,
    task_family,
    trials_to_match,
)
from hparam_lists.greedy import (
    OBJECTIVES,
    MeanLoss,
    MeanRank,
    RegretAboveBound,
    bootstrap_stability,
    get_objective,
    greedy_list,
    list_values,
)
from hparam_lists.normalize import Scores, check_report_split, compute_scores, config_scores
from hparam_lists.random_search import (
    expected_best_of_k,
    min_rank_probabilities,
    monte_carlo_best_of_k,
)
from hparam_lists.synthetic import synthetic_curves
from taskset_torch.curves import Curves

# ------------------------------------------------------------------------------ normalization


def _one_task(curves_by_config: list[list[float]]) -> np.ndarray:
    """[1 task, C, 1 seed, N steps] from plain lists."""
    return np.asarray(curves_by_config, dtype=np.float64)[None, :, None, :]


def test_normalization_maps_min_to_0_and_initial_loss_to_1():
    x = _one_task([[2.0, 1.0, 0.5], [2.0, 1.5, 1.0], [2.2, 1.8, 1.9]])
    s, low, high = config_scores(x, score="final")
    assert low[0] == 0.5 and high[0] == 2.0  # median of the step-0 losses 2.0, 2.0, 2.2
    np.testing.assert_allclose(s[0, 0], [0.0, 0.5 / 1.5, 1.4 / 1.5])
    s_mean, _, _ = config_scores(x, score="mean")
    np.testing.assert_allclose(s_mean[0, 0, 0], np.mean([1.0, 0.5 / 1.5, 0.0]))
    s_best, _, _ = config_scores(x, score="best")
    np.testing.assert_allclose(s_best[0, 0], [0.0, 0.5 / 1.5, 1.3 / 1.5])
    above = _one_task([[2.0, 1.0], [2.0, 3.0]])  # config 1 only ever gets worse than its start
    assert config_scores(above, score="mean")[0][0, 0, 1] == 1.0


def test_nan_inf_and_above_one_count_as_one():
    x = _one_task(
        [[1.0, 0.5, 0.0], [1.0, np.nan, np.nan], [1.0, np.inf, 1e30], [1.0, -np.inf, 3.0]]
    )
    s, _, _ = config_scores(x, score="mean")
    np.testing.assert_allclose(s[0, 0], [0.5, 1.0, 1.0, 1.0])
    final, _, _ = config_scores(x, score="final")
    np.testing.assert_allclose(final[0, 0], [0.0, 1.0, 1.0, 1.0])


def test_all_nan_task_is_missing_and_all_diverged_task_scores_one():
    x = np.stack(
        [
            _one_task([[1.0, 0.2], [1.0, 0.6]])[0],
            np.full((2, 1, 2), np.nan),  # never run: no data at all
            _one_task([[1.0, np.nan], [1.0, np.inf]])[0],  # every config diverged
        ]
    )
    s, low, high = config_scores(x)
    assert np.isnan(s[1]).all() and np.isnan(low[1]) and np.isnan(high[1])
    np.testing.assert_array_equal(s[2], 1.0)
    scores = Scores(s, tasks=("a", "b", "c"), config_names=("x", "y"), split="valid_inner")
    with pytest.raises(ValueError, match="missing"):
        scores.require_complete()
    complete = scores.complete()
    assert complete.tasks == ("a", "c") and complete.n_configs == 2


def test_missing_config_is_dropped_by_complete():
    x = _one_task([[1.0, 0.2], [np.nan, np.nan], [1.0, 0.5]])
    s, _, _ = config_scores(np.concatenate([x, _one_task([[1.0, 0.3], [1.0, 0.4], [1.0, 0.9]])]))
    scores = Scores(s, tasks=("a", "b"), config_names=("c0", "c1", "c2"), split="valid_inner")
    assert scores.complete().config_names == ("c0", "c2")


def test_replicas_mean_ignores_missing_seeds_but_not_diverged_ones():
    seed0 = [[1.0, 0.5], [1.0, 0.1]]
    seed1 = [[1.0, 0.7], [np.nan, np.nan]]  # config 1 never ran with seed 1
    seed2 = [[1.0, np.nan], [1.0, 0.3]]  # config 0 diverged with seed 2
    x = np.stack([seed0, seed1, seed2], axis=1)[None]  # [1, C, S, N]
    s, low, _ = config_scores(x, score="final", replicas="mean")
    assert s.shape == (1, 1, 2)
    assert s[0, 0, 0] == 1.0  # NaN replica -> the mean curve diverged (TaskSet's mean)
    assert low[0] == pytest.approx(0.2)  # min of the seed-mean curves (0.1 + 0.3) / 2
    assert s[0, 0, 1] == pytest.approx(0.0)
    per_seed, _, _ = config_scores(x, score="final", replicas="per_seed")
    assert per_seed.shape == (1, 3, 2) and np.isnan(per_seed[0, 1, 1])


def test_explicit_bounds_and_bad_arguments():
    x = _one_task([[2.0, 1.0], [2.0, 1.5]])
    s, _, _ = config_scores(x, score="final", bounds=(np.array([0.0]), np.array([2.0])))
    np.testing.assert_allclose(s[0, 0], [0.5, 0.75])
    with pytest.raises(ValueError, match="score"):
        config_scores(x, score="median")
    with pytest.raises(ValueError, match="replicas"):
        config_scores(x, replicas="max")
    with pytest.raises(ValueError, match="4-d"):
        config_scores(x[0])
    curves = synthetic_curves(2, 3, n_steps=3, seed=0)
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        compute_scores(curves, "validation")


def test_compute_scores_needs_a_step_zero():
    curves = synthetic_curves(2, 3, n_steps=3, seed=0)
    shifted = Curves(
        values=curves.values,
        tasks=curves.tasks,
        config_names=curves.config_names,
        seeds=curves.seeds,
        steps=curves.steps + 100,
    )
    with pytest.raises(ValueError, match="step-0"):
        compute_scores(shifted, "valid_inner")


def test_learned_split_is_never_the_reported_split():
    check_report_split("valid_inner", "valid_outer")
    with pytest.raises(ValueError, match="different split"):
        check_report_split("valid_inner", "valid_inner")
    curves = synthetic_curves(4, 10, n_steps=3, seed=1)
    with pytest.raises(ValueError, match="different split"):
        cross_validate(
            curves, kfold_splits(curves.tasks, 2, seed=0), learn_split="test", report_split="test"
        )


# ------------------------------------------------------------------------------ objectives


def _set_value(name: str, params: dict, scores: np.ndarray, chosen: list[int]) -> float:
    """Each objective's definition, computed directly on the set (no transform shortcut)."""
    total = 0.0
    for row in scores:
        best = min(row[h] for h in chosen)
        if name == "mean_loss":
            total += best
        elif name == "mean_rank":
            # rank 1 = best; tied configs share the mean of their ranks
            ranks = [
                1 + sum(v < row[h] for v in row) + (sum(v == row[h] for v in row) - 1) / 2
                for h in range(len(row))
            ]
            total += min(ranks[h] for h in chosen)
        else:
            total += max(best - min(row) - params["bound"], 0.0)
    return total / len(scores)


def _brute_force_greedy(name: str, params: dict, scores: np.ndarray, length: int) -> list[int]:
    chosen: list[int] = []
    for _ in range(length):
        values = {
            h: _set_value(name, params, scores, [*chosen, h])
            for h in range(scores.shape[1])
            if h not in chosen
        }
        low = min(values.values())
        chosen.append(min(h for h, v in values.items() if v <= low + 1e-12))
    return chosen


OBJECTIVE_CASES = [
    ("mean_loss", {}),
    ("mean_rank", {}),
    ("regret", {"bound": 0.0}),
    ("regret", {"bound": 0.1}),
]


def test_every_registered_objective_is_covered():
    assert {name for name, _ in OBJECTIVE_CASES} == set(OBJECTIVES)


@pytest.mark.parametrize("name,params", OBJECTIVE_CASES)
def test_objective_greedy_matches_brute_force(name, params):
    rng = np.random.RandomState(3)
    # Rounded scores make exact ties common, which exercises the lowest-index tie rule.
    scores = np.round(rng.uniform(size=(5, 7)), 1)
    result = greedy_list(scores, objective=get_objective(name, **params), length=7)
    assert result.indices.tolist() == _brute_force_greedy(name, params, scores, 7)
    # The reported values are the objective of each prefix, non-increasing.
    expected = [_set_value(name, params, scores, result.indices[:k].tolist()) for k in range(1, 8)]
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    np.testing.assert_allclose(
        list_values(scores, result.indices, objective=get_objective(name, **params)), expected
    )
    assert np.all(np.diff(result.values) <= 1e-12)
    assert sorted(result.indices.tolist()) == list(range(7))  # a full ranking
    assert result.objective["name"] == name


@pytest.mark.parametrize("name,params", OBJECTIVE_CASES)
def test_objective_breaks_ties_by_lowest_index_and_is_deterministic(name, params):
    rng = np.random.RandomState(4)
    base = rng.uniform(size=(6, 5))
    scores = np.concatenate([base, base], axis=1)  # configs 5..9 duplicate 0..4
    a = greedy_list(scores, objective=get_objective(name, **params), length=10)
    b = greedy_list(scores.copy(), objective=get_objective(name, **params), length=10)
    assert a.indices.tolist() == b.indices.tolist()
    first = a.indices[0]
    assert first < 5  # a duplicate with a higher index never wins a tie


def test_greedy_hand_example():
    scores = np.array([[0.0, 1.0, 0.4], [1.0, 0.0, 0.4]])
    result = greedy_list(scores)
    assert result.indices.tolist() == [2, 0, 1]
    np.testing.assert_allclose(result.values, [0.4, 0.2, 0.0])


def test_greedy_weights_and_errors():
    scores = np.array([[0.0, 1.0], [1.0, 0.2]])
    assert greedy_list(scores, length=1).indices.tolist() == [0]  # means 0.5 vs 0.6
    assert greedy_list(scores, length=1, weights=[1.0, 10.0]).indices.tolist() == [1]
    with pytest.raises(ValueError, match="NaN"):
        greedy_list(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="length"):
        greedy_list(scores, length=3)
    with pytest.raises(ValueError, match="unknown list objective 'best'"):
        greedy_list(scores, objective="best")
    with pytest.raises(ValueError, match="bound"):
        RegretAboveBound(-1.0)
    assert isinstance(get_objective("mean_rank"), MeanRank)
    assert isinstance(get_objective(MeanLoss()), MeanLoss)


def test_bootstrap_stability_is_seeded_and_bounded():
    curves = synthetic_curves(10, 40, n_steps=5, seed=2)
    scores = compute_scores(curves, "valid_inner")
    a = bootstrap_stability(scores, length=5, n_boot=8, seed=1)
    b = bootstrap_stability(scores, length=5, n_boot=8, seed=1)
    np.testing.assert_array_equal(a.lists, b.lists)
    assert a.lists.shape == (8, 5)
    assert np.all((a.position_agreement >= 0) & (a.position_agreement <= 1))
    assert np.all((a.prefix_overlap >= 0) & (a.prefix_overlap <= 1))
    assert a.reference.tolist() == greedy_list(scores, length=5).indices.tolist()


# ------------------------------------------------------------------------------ random search


def test_min_rank_probabilities_match_exact_binomials():
    n = 12
    p = min_rank_probabilities(n)
    for k in range(1, n + 1):
        exact = [math.comb(n - i, k - 1) / math.comb(n, k) for i in range(1, n + 1)]
        np.testing.assert_allclose(p[k - 1], exact, rtol=1e-10, atol=1e-15)
    big = min_rank_probabilities(5000, [1, 2, 2500, 5000])
    assert np.isfinite(big).all()
    np.testing.assert_allclose(big.sum(axis=1), 1.0)


def test_exact_random_search_matches_monte_carlo():
    rng = np.random.RandomState(0)
    scores = np.round(rng.uniform(size=(3, 30)), 2)  # with ties
    ks = np.array([1, 2, 5, 10, 29, 30])
    exact = expected_best_of_k(scores, ks)
    mc = monte_carlo_best_of_k(scores, ks, n_draws=20000, seed=1)
    # Standard error <= 0.5/sqrt(20000) ~ 0.0035 per entry; 0.015 is > 4 sigma.
    np.testing.assert_allclose(exact, mc, atol=0.015)
    np.testing.assert_allclose(exact[:, 0], scores.mean(axis=1))  # k=1: a random config
    np.testing.assert_allclose(exact[:, -1], scores.min(axis=1))  # k=N: the whole pool
    full = expected_best_of_k(scores)
    assert full.shape == (3, 30) and np.all(np.diff(full, axis=1) <= 1e-12)


def test_exact_random_search_tiny_enumeration():
    scores = np.array([0.3, 0.1, 0.7, 0.4])
    for k in range(1, 5):
        subsets = list(itertools.combinations(scores, k))
        assert expected_best_of_k(scores, [k])[0] == pytest.approx(
            np.mean([min(s) for s in subsets])
        )
    with pytest.raises(ValueError, match="k must be in 1..4"):
        expected_best_of_k(scores, [5])
    with pytest.raises(ValueError, match="NaN"):
        expected_best_of_k(np.array([0.1, np.nan]))


# ------------------------------------------------------------------------------ evaluation


def test_task_family_and_splits():
    assert task_family("mlp_family_seed3") == "mlp_family"
    assert task_family("char_rnn_language_model_family_seed84") == "char_rnn_language_model_family"
    assert task_family("FixedTextRNNClassification_imdb_patch32_GRU128_bs128") == (
        "FixedTextRNNClassification"
    )
    tasks = [f"mlp_family_seed{i}" for i in range(5)] + ["FixedMLP_a", "FixedMLP_b", "TwoD_Bowl1"]
    folds = kfold_splits(tasks, 3, seed=7)
    assert sorted(t for f in folds for t in f.test) == sorted(tasks)
    for f in folds:
        assert not set(f.train) & set(f.test) and len(f.train) + len(f.test) == len(tasks)
    assert [f.test for f in folds] == [f.test for f in kfold_splits(tasks, 3, seed=7)]
    fam = family_splits(tasks)
    assert {f.name for f in fam} == {"without_mlp_family", "without_FixedMLP", "without_TwoD"}
    assert next(f for f in fam if f.name == "without_FixedMLP").test == ("FixedMLP_a", "FixedMLP_b")
    assert len(leave_n_out_splits(tasks[:8], 2)) == 28
    split = explicit_split(tasks, ["TwoD_Bowl1"])
    assert split.test == ("TwoD_Bowl1",) and len(split.train) == 7
    with pytest.raises(ValueError, match="unknown tasks"):
        explicit_split(tasks, ["nope"])
    with pytest.raises(ValueError, match="n_folds"):
        kfold_splits(tasks, 1, seed=0)


def test_trials_to_match_interpolates_and_caps():
    curve = np.array([0.8, 0.6, 0.5])  # expected best of 1, 2, 3 trials; 0 trials = 1.0
    trials, capped = trials_to_match(curve, np.array([0.7, 0.9, 0.55, 0.5, 0.4, 1.2]))
    np.testing.assert_allclose(trials, [1.5, 0.5, 2.5, 3.0, 3.0, 0.0])
    assert capped.tolist() == [False, False, False, True, True, False]


def _scores(n_tasks: int, n_configs: int, seed: int, split: str = "valid_outer") -> Scores:
    curves = synthetic_curves(n_tasks, n_configs, n_steps=6, seed=seed)
    return compute_scores(curves, split)


def test_evaluate_list_against_random_search():
    scores = _scores(6, 40, seed=5)
    oracle = greedy_list(scores, length=40).indices  # learned on the tasks it is scored on
    ev = evaluate_list(scores, oracle, ks=[1, 2, 5, 40], n_boot=200, seed=0)
    m = scores.values[:, 0]
    np.testing.assert_allclose(ev.random_loss[0], m.mean())
    np.testing.assert_allclose(ev.list_loss[-1], m.min(axis=1).mean())
    assert ev.speedup_capped[-1] and ev.speedup[-1] == pytest.approx(1.0)  # N/k at k = N
    assert ev.speedup[0] > 1.0  # the greedy first entry beats one random trial
    for loss, ci in ((ev.list_loss, ev.list_ci), (ev.random_loss, ev.random_ci)):
        assert np.all(ci[:, 0] <= loss + 1e-12) and np.all(loss <= ci[:, 1] + 1e-12)
    again = evaluate_list(scores, oracle, ks=[1, 2, 5, 40], n_boot=200, seed=0)
    np.testing.assert_array_equal(ev.list_ci, again.list_ci)
    other = evaluate_list(scores, oracle, ks=[1, 2, 5, 40], n_boot=200, seed=1)
    assert not np.array_equal(ev.random_ci, other.random_ci)
    names = [scores.config_names[i] for i in oracle]
    by_name = evaluate_list(scores, names, ks=[1, 2, 5, 40], n_boot=200, seed=0)
    np.testing.assert_array_equal(by_name.list_loss, ev.list_loss)
    d = ev.to_dict()
    assert d["per_k"][0]["k"] == 1 and set(d["per_k"][0]) >= {"list_ci", "random_ci", "speedup"}


def test_speedup_equals_trial_ratio_on_a_single_task():
    scores = Scores(
        np.linspace(0.0, 0.9, 10)[None, :],
        tasks=("t",),
        config_names=tuple("abcdefghij"),
        split="valid_outer",
    )
    random = expected_best_of_k(scores.values[0, 0])
    # config "b" scores 0.1: random search reaches 0.1 between its k and k+1 trials
    ev = evaluate_list(scores, ["b"], ks=[1], n_boot=10)
    j = int(np.argmax(random <= 0.1))
    expected = j + (random[j - 1] - 0.1) / (random[j - 1] - random[j])
    assert ev.speedup[0] == pytest.approx(expected)


def test_compare_lists_only_on_tasks_where_all_configs_exist():
    curves = synthetic_curves(5, 20, n_steps=5, seed=9)
    values = curves.values.copy()
    values[0, 3] = np.nan  # task 0 never ran config 3
    curves = Curves(
        values=values,
        tasks=curves.tasks,
        config_names=curves.config_names,
        seeds=curves.seeds,
        steps=curves.steps,
        space=curves.space,
        hparams=curves.hparams,
    )
    scores = compute_scores(curves, "valid_outer")
    a = [f"synthetic_seed{i}" for i in (3, 1, 2)]
    b = [f"synthetic_seed{i}" for i in (5, 6, 7)]
    comp = compare_lists(scores, {"a": a, "b": b, "a_again": a}, n_boot=50, seed=0)
    assert comp.dropped_tasks == (curves.tasks[0],)
    assert comp.evaluations["a"].tasks == curves.tasks[1:]
    np.testing.assert_allclose(comp.difference["a_again"][0], 0.0)
    diff = comp.evaluations["b"].list_loss - comp.evaluations["a"].list_loss
    np.testing.assert_allclose(comp.difference["b"][0], diff)
    assert set(comp.to_dict()["lists"]) == {"a", "b", "a_again"}
    with pytest.raises(KeyError, match="not in these curves"):
        compare_lists(scores, {"x": ["nadamw_grid_seed251"]})


def test_present_prefix_counts_leading_entries_with_curves():
    # A published list evaluated on a store that trained only its head: the usable prefix stops
    # at the first missing entry, even when later entries happen to be present.
    present = {"c0", "c1", "c3"}
    assert present_prefix(["c0", "c1", "c2", "c3"], present) == 2
    assert present_prefix(["c2", "c0"], present) == 0
    assert present_prefix(["c1", "c0", "c3"], present) == 3
    assert present_prefix([], present) == 0


def test_cross_validation_beats_random_search_on_structured_tasks():
    curves = synthetic_curves(12, 60, n_steps=6, seed=11)
    cv = cross_validate(curves, kfold_splits(curves.tasks, 3, seed=0), ks=(1, 3), n_boot=50)
    assert len(cv.folds) == 3
    for fold in cv.folds:
        assert fold.hlist.provenance["tasks"] == list(fold.split.train)
        assert fold.hlist.provenance["split"] == "valid_inner"
        assert fold.evaluation.split == "valid_outer"
        assert fold.evaluation.tasks == fold.split.test
    summary = cv.summary()
    assert [row["k"] for row in summary] == [1, 3]
    assert summary[0]["fold_median_speedup"] > 1.0
    pooled = cv.pooled(n_boot=50)
    assert sorted(pooled.tasks) == sorted(curves.tasks)
    assert cv.to_dict(n_boot=20)["pooled"][0]["k"] == 1


def test_evaluate_hparam_list_holds_out_learned_tasks_and_guards_the_split():
    from hparam_lists.crossval import evaluate_hparam_list
    from hparam_lists.lists import learn_list

    curves = synthetic_curves(6, 30, n_steps=5, seed=12)
    hlist = learn_list(curves, tasks=curves.tasks[:4], length=10)
    ev, excluded = evaluate_hparam_list(curves, hlist, ks=[1, 5], n_boot=20)
    assert excluded == curves.tasks[:4] and ev.tasks == curves.tasks[4:]
    assert ev.split == "valid_outer" and ev.pool_size == 30
    with pytest.raises(ValueError, match="different split"):
        evaluate_hparam_list(curves, hlist, report_split="valid_inner")
    with pytest.raises(ValueError, match="every task"):
        evaluate_hparam_list(curves.select_tasks(curves.tasks[:4]), hlist)


def test_compare_hparam_lists_uses_only_tasks_no_list_was_learned_on():
    from hparam_lists.crossval import compare_hparam_lists
    from hparam_lists.lists import learn_list

    curves = synthetic_curves(7, 30, n_steps=5, seed=13)
    a = learn_list(curves, tasks=curves.tasks[:2], length=10)
    b = learn_list(curves, tasks=curves.tasks[2:4], length=10)
    comp, scores, excluded = compare_hparam_lists(curves, {"a": a, "b": b}, ks=[1, 3], n_boot=20)
    assert excluded == tuple(sorted(curves.tasks[:4]))
    assert scores.tasks == curves.tasks[4:] and comp.evaluations["a"].tasks == curves.tasks[4:]
    want = compare_lists(scores, {"a": list(a.names), "b": list(b.names)}, ks=[1, 3], n_boot=20)
    np.testing.assert_allclose(comp.difference["b"][0], want.difference["b"][0])
    with pytest.raises(ValueError, match="every task of the curves was used to learn"):
        compare_hparam_lists(curves.select_tasks(curves.tasks[:4]), {"a": a, "b": b})
    with pytest.raises(ValueError, match="different split"):
        compare_hparam_lists(curves, {"a": a}, report_split="valid_inner")
