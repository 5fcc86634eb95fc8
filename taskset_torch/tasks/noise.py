"""Per-step noise drawn where the task computes, from the trainer's (CPU) generator.

The trainer's generators live on the CPU, so a ``[B, D]`` noise tensor drawn from them on a GPU
run is produced by the CPU and copied every step (30% of a flow's step on an H200). For a task
on another device, :func:`noise_generator` draws one 62-bit seed from the CPU generator and
seeds a generator on the task's device with it: the noise is then generated on the device, still
a deterministic function of the run's seed. On the CPU the generator is returned unchanged, so
CPU curves are bit-for-bit what they were (a GPU run's noise differs from a CPU run's: CUDA's
Philox stream is not the CPU's Mersenne Twister).
"""

from __future__ import annotations

import torch

__all__ = ["noise_generator", "randn", "rand"]

_DEVICE_GENERATORS: dict[str, torch.Generator] = {}


def _key(device: torch.device) -> str:
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return str(device)


def noise_generator(generator: torch.Generator, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` for this step's noise: ``generator`` itself if it is there."""
    device = torch.device(device)
    if generator.device.type == device.type:
        return generator
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    key = _key(device)
    g = _DEVICE_GENERATORS.get(key)
    if g is None:
        g = _DEVICE_GENERATORS[key] = torch.Generator(device=key)
    return g.manual_seed(seed)


def randn(shape, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """Standard normal noise of ``shape`` generated on ``device``."""
    return torch.randn(shape, generator=noise_generator(generator, device), device=device)


def rand(shape, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """Uniform [0, 1) noise of ``shape`` generated on ``device``."""
    return torch.rand(shape, generator=noise_generator(generator, device), device=device)
