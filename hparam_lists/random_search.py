"""Exact expected best-of-k of random search without replacement (order statistics), all k at once.

With a pool's scores sorted ``s_(1) <= ... <= s_(N)``, k configs drawn without replacement have
minimum ``s_(i)`` with probability ``C(N-i, k-1) / C(N, k)`` (the other k-1 draws all come from the
N-i worse ones), so ``E[min of k] = sum_i s_(i) C(N-i, k-1) / C(N, k)``. The probabilities are built
in log space with log-gamma (no overflowing binomials), as one ``[k, N]`` weight matrix applied to
every task's sorted scores with a single matrix product. Ties need no special care: tied values
are interchangeable in the sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

__all__ = [
    "min_rank_probabilities",
    "expected_best_of_k",
    "monte_carlo_best_of_k",
]

# Rows of the weight matrix built at once; bounds memory to ~_BLOCK * N * 8 bytes for huge pools.
_BLOCK = 1024


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def _check_ks(ks: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    if ks is None:
        return np.arange(1, n + 1, dtype=np.int64)
    ks = np.asarray(ks, dtype=np.int64).reshape(-1)
    if len(ks) and (ks.min() < 1 or ks.max() > n):
        raise ValueError(
            f"k must be in 1..{n} (the pool size), got k from {ks.min()} to {ks.max()}"
        )
    return ks


def min_rank_probabilities(n: int, ks: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """``[len(ks), n]``: P(the i-th smallest of n is the minimum of k draws without replacement)."""
    if n < 1:
        raise ValueError(f"pool size must be >= 1, got {n}")
    ks = _check_ks(ks, n).astype(np.float64)
    rest = n - np.arange(1, n + 1, dtype=np.float64)  # N - i for i = 1..N
    k = ks[:, None]
    valid = rest[None, :] >= k - 1
    with np.errstate(invalid="ignore"):
        log_p = _log_comb(rest[None, :], k - 1) - _log_comb(np.float64(n), k)
    p = np.where(valid, np.exp(np.where(valid, log_p, 0.0)), 0.0)
    # Each row sums to 1 exactly in exact arithmetic; renormalizing removes log-gamma round-off.
    return p / p.sum(axis=1, keepdims=True)


def expected_best_of_k(
    scores: np.ndarray, ks: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """Exact E[min of k random configs, without replacement] for every row of ``scores``.

    scores: ``[..., N]`` finite (one pool per row). Returns ``[..., len(ks)]`` (default k = 1..N).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise ValueError("scores need a non-empty last (config) axis")
    if not np.all(np.isfinite(s)):
        raise ValueError(
            "scores contain NaN/inf; random search needs every config's score "
            "(normalize first, and restrict to configs run on every task)"
        )
    n = s.shape[-1]
    ks = _check_ks(ks, n)
    rows = np.sort(s.reshape(-1, n), axis=1)
    out = np.empty((rows.shape[0], len(ks)))
    for start in range(0, len(ks), _BLOCK):
        block = ks[start : start + _BLOCK]
        out[:, start : start + len(block)] = rows @ min_rank_probabilities(n, block).T
    return out.reshape(*s.shape[:-1], len(ks))


def monte_carlo_best_of_k(
    scores: np.ndarray,
    ks: Sequence[int] | np.ndarray,
    *,
    n_draws: int,
    seed: int,
) -> np.ndarray:
    """Monte Carlo estimate of :func:`expected_best_of_k` (a cross-check, not for production use).

    Each draw is a random permutation of the pool; its first k entries are k draws without
    replacement. Returns ``[..., len(ks)]``.
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.shape[-1]
    ks = _check_ks(ks, n)
    rows = s.reshape(-1, n)
    rng = np.random.RandomState(seed)
    total = np.zeros((rows.shape[0], len(ks)))
    for _ in range(n_draws):
        perm = rng.permutation(n)
        running = np.minimum.accumulate(rows[:, perm], axis=1)
        total += running[:, ks - 1]
    return (total / n_draws).reshape(*s.shape[:-1], len(ks))
