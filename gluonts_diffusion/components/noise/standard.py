"""``standard``: iid Gaussian noise, the usual choice of DDPM and score SDEs."""

from typing import Optional, Sequence

import torch

from gluonts_diffusion.core.base import BaseNoise
from gluonts_diffusion.core.registry import Registry


@Registry.register("noise", "standard")
class StandardNoise(BaseNoise):
    """Independent N(0, 1) noise at every time step and channel (``Sigma = I``)."""

    def __init__(self) -> None:
        pass

    def sample(self, shape: Sequence[int], generator: Optional[torch.Generator] = None, device=None, dtype=None):
        return torch.randn(*shape, generator=generator, device=device, dtype=dtype)

    def covariance(self, length: int) -> torch.Tensor:
        return torch.eye(length, dtype=torch.float64)

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        return z
