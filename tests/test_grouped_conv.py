"""The two grouped-convolution implementations compute the same function."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from taskset_torch.tasks import grouped_conv as gc


@pytest.fixture
def restore():
    yield
    gc.set_grouped_conv(None)


@pytest.mark.parametrize(
    "groups,cin,cout,hw,stride,padding",
    [
        (3, 2, 4, (9, 7), 1, 1),
        (4, 3, 5, (8, 8), 2, 1),
        (2, 1, 3, (6, 5), 2, 0),
        (5, 2, 2, (7, 7), 1, 0),
    ],
)
def test_bmm_equals_native_values_and_gradients(restore, groups, cin, cout, hw, stride, padding):
    g = torch.Generator().manual_seed(groups * 100 + cin)
    x = torch.randn(3, groups * cin, *hw, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(groups * cout, cin, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(groups * cout, generator=g, dtype=torch.float64, requires_grad=True)
    outs = {}
    for impl in gc.GROUPED_CONV_IMPLS:
        gc.set_grouped_conv(impl)
        y = gc.grouped_conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
        grads = torch.autograd.grad((y * torch.cos(y)).sum(), (x, w, b))
        outs[impl] = (y, *grads)
    ref = F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)
    torch.testing.assert_close(outs["native"][0], ref)
    for a, c in zip(outs["native"], outs["bmm"]):
        torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-10)


def test_a_conv_task_trains_the_same_under_both(restore):
    from taskset_torch.tasks.registry import build_task

    task = build_task("conv_fc_family_seed11")
    params = task.init(3, torch.Generator().manual_seed(0))
    batch = task.batch("train", torch.Generator().manual_seed(1))
    losses = {}
    for impl in gc.GROUPED_CONV_IMPLS:
        gc.set_grouped_conv(impl)
        losses[impl] = task.loss(params, batch)
    torch.testing.assert_close(losses["native"], losses["bmm"], rtol=1e-4, atol=1e-5)


def test_unknown_implementation_is_refused(restore, monkeypatch):
    with pytest.raises(ValueError, match="one of"):
        gc.set_grouped_conv("winograd")
    monkeypatch.setenv("TASKSET_TORCH_GROUPED_CONV", "fft")
    with pytest.raises(ValueError, match="TASKSET_TORCH_GROUPED_CONV='fft'"):
        gc.get_grouped_conv()
