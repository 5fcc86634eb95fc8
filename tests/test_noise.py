"""Per-step noise: unchanged CPU streams, drawn on the device (deterministically) elsewhere."""

from __future__ import annotations

import pytest
import torch

from taskset_torch.tasks import noise


def test_cpu_noise_is_the_generators_own_stream():
    g, ref = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert noise.noise_generator(g, "cpu") is g
    torch.testing.assert_close(noise.randn((4, 5), g, "cpu"), torch.randn(4, 5, generator=ref))
    torch.testing.assert_close(noise.rand((7,), g, "cpu"), torch.rand(7, generator=ref))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_noise_is_generated_on_the_device_from_the_seed():
    a = noise.randn((64, 32), torch.Generator().manual_seed(1), "cuda")
    b = noise.randn((64, 32), torch.Generator().manual_seed(1), "cuda")
    c = noise.randn((64, 32), torch.Generator().manual_seed(2), "cuda")
    assert a.device.type == "cuda"
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
