"""Hand-written kernels of tasks/layers.py against the plain PyTorch composition they replace."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from taskset_torch.tasks import layers
from taskset_torch.tasks.layers import linear, linear_cross_entropy


def _reference(x, w, b, labels):
    logits = linear(x, w, b)
    n, rows, k = logits.shape
    return F.cross_entropy(logits.reshape(-1, k), labels.repeat(n), reduction="none").view(n, rows)


@pytest.mark.parametrize("block_elements", [1, 50, 1 << 22])  # one row per block .. one block
def test_linear_cross_entropy_matches_the_composition(monkeypatch, block_elements):
    monkeypatch.setattr(layers, "_CE_BLOCK_ELEMENTS", block_elements)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 20, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 7, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(7, (20,), generator=g)
    out = linear_cross_entropy(x, w, b, labels)
    ref = _reference(x, w, b, labels)
    torch.testing.assert_close(out, ref)
    up = torch.randn(3, 20, generator=g, dtype=torch.float64)
    got = torch.autograd.grad((out * up).sum(), (x, w, b))
    want = torch.autograd.grad((ref * up).sum(), (x, w, b))
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)


def test_linear_cross_entropy_rows_are_independent_and_labels_checked():
    x = torch.randn(2, 4, 3)
    w = torch.randn(2, 3, 5)
    w[1] = float("nan")  # one diverged config must not touch the other
    b = torch.zeros(2, 5)
    out = linear_cross_entropy(x, w, b, torch.tensor([0, 1, 2, 4]))
    assert torch.isfinite(out[0]).all() and torch.isnan(out[1]).all()
    with pytest.raises(ValueError, match="labels must have shape"):
        linear_cross_entropy(x, w, b, torch.tensor([0, 1]))
