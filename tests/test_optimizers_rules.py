"""Update rules: vectorized == single-config == an independent float64 reference; rows isolated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from taskset_torch.optimizers import (
    SPACES,
    Adam8P,
    Adam8PSpace,
    NAdamW,
    TFAdagrad,
    TFAdam,
    cosine_learning_rate,
    get_space,
)

STEPS = 20
SHAPES = [(5, 6), (20,)]  # the single-config side sees two tensors; the vectorized side P = 50
P = 50


def _problem(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """A start point, a diagonal curvature and per-step noise: grad = a * p + noise_t."""
    gen = torch.Generator().manual_seed(seed)
    p0 = torch.randn(P, generator=gen)
    a = torch.rand(P, generator=gen) * 0.5
    noise = [torch.randn(P, generator=gen) for _ in range(STEPS)]
    return p0, a, noise


def _run_vectorized(space, cfgs, training_steps, steps=STEPS, **kw) -> torch.Tensor:
    p0, a, noise = _problem()
    opt = space.vectorized(cfgs, training_steps, **kw)
    params = p0.repeat(len(cfgs), 1)
    state = opt.init(params)
    for s in range(steps):
        opt.update(params, a * params + noise[s], state, s)
    return params


def _run_single(space, cfg, training_steps, steps=STEPS, **kw) -> torch.Tensor:
    p0, a, noise = _problem()
    tensors = [t.reshape(shape).clone() for t, shape in zip(torch.split(p0, [30, 20]), SHAPES)]
    opt, sched = space.torch_optimizer(tensors, cfg, training_steps, **kw)
    assert sched is None
    for s in range(steps):
        g = a * torch.cat([t.reshape(-1) for t in tensors]) + noise[s]
        for t, gt in zip(tensors, torch.split(g, [30, 20])):
            t.grad = gt.reshape(t.shape).clone()
        opt.step()
    return torch.cat([t.reshape(-1) for t in tensors])


def _assert_rows_close(got: torch.Tensor, want: torch.Tensor, rel: float, label: str) -> None:
    """Max abs difference within ``rel`` of the row's scale (elements near 0 have no own scale)."""
    scale = want.abs().max().item()
    assert math.isfinite(scale), f"{label}: reference diverged"
    err = (got - want).abs().max().item()
    assert err <= rel * max(scale, 1e-12), f"{label}: max |diff| {err:.3g} vs scale {scale:.3g}"


# Every registered space (a new one is covered without editing this file), plus the options.
CASES = [(name, {}) for name in SPACES] + [("nadamw_grid", {"warmup_semantics": "max"})]


@pytest.mark.parametrize(("name", "kw"), CASES)
@pytest.mark.parametrize("training_steps", [STEPS, 10000])
def test_vectorized_matches_single_config(name: str, kw: dict, training_steps: int) -> None:
    # Free-running: 20 steps on a quadratic, each side on its own trajectory. training_steps =
    # STEPS puts warmup, constant and cosine phases (and strong adam6p decays) inside the 20
    # steps; 10000 is TaskSet's horizon. (Some sampled configs are chaotic here -- e.g. seed 24
    # of adam4p: beta2 ~ 0.002, lr ~ 4.4 -- and amplify float32 rounding differences; those are
    # covered by the lock-step test below.)
    space = get_space(name)
    cfgs = [space.sample(s) for s in range(12)]
    vec = _run_vectorized(space, cfgs, training_steps, **kw)
    for k, cfg in enumerate(cfgs):
        single = _run_single(space, cfg, training_steps, **kw)
        _assert_rows_close(vec[k], single, 2e-6, f"{name} seed {k}")


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_vectorized_matches_single_config_lock_step(name: str, kw: dict) -> None:
    # Each step starts both sides from the same params and state, so a chaotic config cannot
    # amplify rounding: every single update must agree to float32 precision, for 32 seeds.
    space = get_space(name)
    cfgs = [space.sample(s) for s in range(32)]
    p0, a, noise = _problem()
    vec = space.vectorized(cfgs, STEPS, **kw)
    params = p0.repeat(len(cfgs), 1)
    state = vec.init(params)
    singles = []
    for cfg in cfgs:
        p = p0.clone()
        singles.append((p, space.torch_optimizer([p], cfg, STEPS, **kw)[0]))
    for step in range(STEPS):
        grads = a * params + noise[step]
        for k, (p, opt) in enumerate(singles):
            p.copy_(params[k])
            p.grad = grads[k].clone()
            for key, value in opt.state[p].items():
                if key != "step":
                    value.copy_(state[key][k])
        vec.update(params, grads, state, step)
        for k, (p, opt) in enumerate(singles):
            opt.step()
            _assert_rows_close(params[k], p, 1e-6, f"{name} seed {k} step {step}")
            for key in state:
                _assert_rows_close(state[key][k], opt.state[p][key], 1e-6, f"{key} {k}")


def test_vectorized_adam8p_rescaled_schedule_matches_single() -> None:
    space = Adam8PSpace(rescale_schedule=True)
    cfgs = [space.sample(s) for s in range(8)]
    vec = _run_vectorized(space, cfgs, STEPS)
    for k, cfg in enumerate(cfgs):
        _assert_rows_close(vec[k], _run_single(space, cfg, STEPS), 2e-6, f"seed {k}")
    # The horizon matters: the default (TaskSet's fixed 10k steps) gives different params.
    assert not torch.allclose(vec, _run_vectorized(get_space("adam8p_wide_grid"), cfgs, STEPS))


def test_nadamw_mixed_batch_with_warmups() -> None:
    space = get_space("nadamw_grid")
    base = space.sample(0)
    cfgs = []
    for nesterov in (False, True):
        for wf, cf in ((0.0, 0.5), (0.3, 0.5), (0.7, 0.4), (0.05, 0.0), (0.2, 1.0)):
            cfgs.append(
                {
                    **base,
                    "learning_rate": 0.05,
                    "use_nesterov": nesterov,
                    "warmup_fraction": wf,
                    "constant_fraction": cf,
                    "adamw_weight_decay": 0.01,
                    "l2_weight_decay": 0.02 if nesterov else 0.0,
                }
            )
    for sem in ("min", "max"):
        vec = _run_vectorized(space, cfgs, STEPS, warmup_semantics=sem)
        assert torch.isfinite(vec).all()
        for k, cfg in enumerate(cfgs):
            single = _run_single(space, cfg, STEPS, warmup_semantics=sem)
            _assert_rows_close(vec[k], single, 2e-6, f"{sem} config {k}")
    # min and max semantics differ when warmup_fraction > 0.
    vmin = _run_vectorized(space, cfgs, STEPS, warmup_semantics="min")
    vmax = _run_vectorized(space, cfgs, STEPS, warmup_semantics="max")
    assert torch.equal(vmin[0], vmax[0]) and not torch.allclose(vmin[1], vmax[1])


# ---- an independent float64 reference, written from TASKSET.md's formulas -------------------


def _reference(rule: str, cfg: dict, training_steps: int, steps: int = 10) -> np.ndarray:
    p0, a, noise = _problem()
    p, a = p0.double().numpy().copy(), a.double().numpy()
    noise = [n.double().numpy() for n in noise]
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    acc = np.full_like(p, cfg.get("initial_accumulator_value", 0.0))
    for s in range(steps):
        g = a * p + noise[s]
        t = s + 1
        if rule == "adagrad":
            acc = acc + g * g
            p = p - cfg["learning_rate"] * g / np.sqrt(acc)
            continue
        b1, b2, eps = cfg["beta1"], cfg["beta2"], cfg["epsilon"]
        if rule == "adam8p":
            g = g + cfg["l1"] * np.sign(p) + 2 * cfg["l2"] * p
        if rule == "nadamw":
            g = g - cfg["l2_weight_decay"] * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if rule == "adam":
            p = p - cfg["learning_rate"] * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (
                np.sqrt(v) + eps
            )
        elif rule == "adam8p":
            tr = 10000 / training_steps * s
            lr = math.exp(-cfg["exponential_decay"] * tr)
            lr *= max(1 - cfg["linear_decay"] * tr, 0) * cfg["learning_rate"]
            p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t) + 1e-10) + eps)
        else:
            lr = cosine_learning_rate(
                s,
                learning_rate=cfg["learning_rate"],
                training_steps=training_steps,
                constant_fraction=cfg["constant_fraction"],
                warmup_fraction=cfg["warmup_fraction"],
                min_learning_rate_mult=cfg["min_learning_rate_mult"],
            )
            lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            num = b1 * m + (1 - b1) * g if cfg["use_nesterov"] else m
            p = p - (lr_t * num / (np.sqrt(v) + eps) + lr_t * cfg["adamw_weight_decay"] * p)
    return p


@pytest.mark.parametrize(
    ("rule", "cls", "cfg"),
    [
        ("adam", TFAdam, {"learning_rate": 0.1, "beta1": 0.8, "beta2": 0.99, "epsilon": 0.3}),
        ("adam", TFAdam, {"learning_rate": 1e-2, "beta1": 0.0, "beta2": 1 - 1e-6, "epsilon": 1e-8}),
        (
            "adam8p",
            Adam8P,
            {
                **{"learning_rate": 0.05, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-3},
                **{"l1": 0.01, "l2": 0.1, "linear_decay": 3e-5, "exponential_decay": 1e-4},
            },
        ),
        (
            "nadamw",
            NAdamW,
            {
                **{"learning_rate": 0.05, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-4},
                **{"use_nesterov": True, "adamw_weight_decay": 0.05, "l2_weight_decay": 0.02},
                **{"warmup_fraction": 0.05, "min_learning_rate_mult": 0.1},
                "constant_fraction": 0.3,
            },
        ),
        (
            "nadamw",
            NAdamW,
            {
                **{"learning_rate": 0.3, "beta1": 0.5, "beta2": 0.9, "epsilon": 1.0},
                **{"use_nesterov": False, "adamw_weight_decay": 0.0, "l2_weight_decay": 0.1},
                **{"warmup_fraction": 0.0, "min_learning_rate_mult": 0.0},
                "constant_fraction": 0.0,
            },
        ),
        ("adagrad", TFAdagrad, {"learning_rate": 0.3, "initial_accumulator_value": 0.01}),
    ],
)
def test_single_config_matches_float64_reference(rule: str, cls, cfg: dict) -> None:
    steps, horizon = 10, 40
    p0, a, noise = _problem()
    p = p0.clone()
    extra = {"training_steps": horizon} if rule in ("adam8p", "nadamw") else {}
    opt = cls([p], **cfg, **extra)
    for s in range(steps):
        p.grad = a * p + noise[s]
        opt.step()
    want = torch.from_numpy(_reference(rule, cfg, horizon, steps)).float()
    _assert_rows_close(p, want, 1e-5, rule)


def test_tf_adam_equals_torch_adam_when_epsilon_is_zero() -> None:
    # TF puts epsilon outside the bias correction, torch inside: identical only for eps = 0.
    p0, a, noise = _problem()
    for beta1, beta2, lr in ((0.9, 0.999, 1e-2), (0.3, 0.9, 0.5)):
        ours, theirs = p0.clone(), p0.clone()
        o1 = TFAdam([ours], learning_rate=lr, beta1=beta1, beta2=beta2, epsilon=0.0)
        o2 = torch.optim.Adam([theirs], lr=lr, betas=(beta1, beta2), eps=0.0)
        for s in range(STEPS):
            ours.grad = a * ours + noise[s]
            theirs.grad = a * theirs + noise[s]
            o1.step()
            o2.step()
        _assert_rows_close(ours, theirs, 1e-6, f"beta1={beta1}")
    # With a large epsilon the definitions differ, and ours is TF's on the first step:
    # p1 = p0 - lr * g / (|g| + eps / sqrt(1 - beta2)).
    g = noise[0]
    ours, theirs = p0.clone(), p0.clone()
    o1 = TFAdam([ours], learning_rate=0.1, epsilon=0.5)
    o2 = torch.optim.Adam([theirs], lr=0.1, eps=0.5)
    ours.grad, theirs.grad = g.clone(), g.clone()
    o1.step()
    o2.step()
    want = p0 - 0.1 * g / (g.abs() + 0.5 / math.sqrt(1 - 0.999))
    assert torch.allclose(ours, want, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(ours, theirs, rtol=1e-3)


def test_tf_adagrad_equals_torch_adagrad_without_epsilon() -> None:
    p0, a, noise = _problem()
    ours, theirs = p0.clone(), p0.clone()
    o1 = TFAdagrad([ours], learning_rate=0.2, initial_accumulator_value=0.05)
    o2 = torch.optim.Adagrad([theirs], lr=0.2, initial_accumulator_value=0.05, eps=0.0)
    for s in range(STEPS):
        ours.grad = a * ours + noise[s]
        theirs.grad = a * theirs + noise[s]
        o1.step()
        o2.step()
    _assert_rows_close(ours, theirs, 1e-6, "adagrad")


def test_nadamw_without_extras_is_tf_adam() -> None:
    p0, a, noise = _problem()
    cfg = {"learning_rate": 0.05, "beta1": 0.7, "beta2": 0.95, "epsilon": 0.1}
    x, y = p0.clone(), p0.clone()
    o1 = TFAdam([x], **cfg)
    o2 = NAdamW([y], **cfg, constant_fraction=1.0, min_learning_rate_mult=1.0)
    for s in range(STEPS):
        x.grad, y.grad = a * x + noise[s], a * y + noise[s]
        o1.step()
        o2.step()
    assert torch.equal(x, y)


def test_adam8p_penalty_gradient_equals_autograd() -> None:
    # TaskSet adds l1*sum|p| + l2*sum p^2 to the loss; we add its gradient analytically.
    p0, a, noise = _problem()
    hp = {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.99, "epsilon": 1e-6}
    l1, l2 = 0.03, 0.2
    x = p0.clone().requires_grad_(True)
    y = p0.clone().requires_grad_(True)
    ox = Adam8P([x], **hp, l1=l1, l2=l2)
    oy = Adam8P([y], **hp)
    for s in range(STEPS):
        for p, o, pen in ((x, ox, 0.0), (y, oy, 1.0)):
            o.zero_grad()
            loss = 0.5 * (a * p * p).sum() + (noise[s] * p).sum()
            loss = loss + pen * (l1 * p.abs().sum() + l2 * (p * p).sum())
            loss.backward()
            o.step()
    _assert_rows_close(x.detach(), y.detach(), 1e-6, "penalty")


def test_adam8p_without_extras_is_close_to_torch_adam() -> None:
    # Only the 1e-10 inside the square root differs; negligible when v_hat >> 1e-10.
    p0, a, noise = _problem()
    x, y = p0.clone(), p0.clone()
    o1 = Adam8P([x], learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-3)
    o2 = torch.optim.Adam([y], lr=0.01, betas=(0.9, 0.999), eps=1e-3)
    for s in range(STEPS):
        x.grad, y.grad = a * x + noise[s], a * y + noise[s]
        o1.step()
        o2.step()
    _assert_rows_close(x, y, 1e-6, "adam8p vs adam")


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_diverged_row_does_not_touch_others(name: str) -> None:
    space = get_space(name)
    cfgs = [space.sample(s) for s in range(6)]
    p0, a, noise = _problem()
    opt = space.vectorized(cfgs, STEPS)
    clean = p0.repeat(len(cfgs), 1)
    dirty = clean.clone()
    dirty[2] = float("nan")
    dirty[4, 3] = float("inf")
    sc, sd = opt.init(clean), opt.init(dirty)
    for s in range(STEPS):
        gc, gd = a * clean + noise[s], a * dirty + noise[s]
        gd[1, 7] = float("nan")  # a NaN gradient in another row
        gc[1, 7] = float("nan")
        opt.update(clean, gc, sc, s)
        opt.update(dirty, gd, sd, s)
    keep = [0, 3, 5]
    assert torch.isfinite(clean[keep]).all()
    assert torch.equal(clean[keep], dirty[keep])  # bit for bit
    assert not torch.isfinite(dirty[2]).any()


def test_vectorized_api_and_errors() -> None:
    space = get_space("nadamw_grid")
    opt = space.vectorized([space.sample(s) for s in range(3)], 100)
    assert opt.num_configs == 3 and opt.training_steps == 100
    lr = opt.hparams["learning_rate"]
    assert lr.shape == (3, 1) and lr.dtype == torch.float32
    assert opt.to("cpu") is opt
    assert opt.learning_rate(0).shape == (3, 1)
    params = torch.zeros(3, 8)
    state = opt.init(params)
    assert set(state) == {"m", "v"} and state["m"].shape == (3, 8)
    with pytest.raises(ValueError, match=r"\[K=3, P\]"):
        opt.init(torch.zeros(4, 8))
    with pytest.raises(ValueError, match="step"):
        opt.update(params, torch.zeros(3, 8), state, -1)
    with pytest.raises(ValueError, match="shape"):
        opt.update(params, torch.zeros(3, 7), state, 0)
    with pytest.raises(ValueError, match="floating-point"):
        opt.init(torch.zeros(3, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"call \.to\('meta'\)"):
        opt.init(torch.zeros(3, 8, device="meta"))
    ada = get_space("adagrad_wide_grid").vectorized(
        [{"learning_rate": 0.1, "initial_accumulator_value": 0.5}] * 2, 10
    )
    acc = ada.init(torch.zeros(2, 4))["accumulator"]
    assert torch.equal(acc, torch.full((2, 4), 0.5)) and acc.is_contiguous()
