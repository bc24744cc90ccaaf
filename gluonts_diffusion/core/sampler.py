"""``BaseSampler``: the interface of the sampler component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Sequence

import torch

from .component import Component
from .noise import BaseNoise
from .sde import BaseSDE


class BaseSampler(Component, ABC):
    """Integrates from the prior at t=1 to data at t=eps using a :class:`Prediction`.

    Args:
        num_steps: number of time steps.
        time_grid: ``uniform`` in t, ``quadratic`` (denser near data) or ``logsnr`` (uniform in log-SNR).
    """

    def __init__(self, num_steps: int = 50, time_grid: str = "uniform") -> None:
        if int(num_steps) < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if time_grid not in ("uniform", "quadratic", "logsnr"):
            raise ValueError(f"time_grid must be 'uniform', 'quadratic' or 'logsnr', got {time_grid!r}")
        self.num_steps = int(num_steps)
        self.time_grid = time_grid

    @property
    def nfe(self) -> int:
        """Network evaluations per sample path."""
        return self.num_steps

    def timesteps(self, sde: BaseSDE, device=None, dtype=torch.float32) -> torch.Tensor:
        """Decreasing grid ``(num_steps + 1,)`` from 1 to ``sde.eps``."""
        n = self.num_steps
        u = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
        if self.time_grid == "uniform":
            ts = 1.0 - (1.0 - sde.eps) * u
        elif self.time_grid == "quadratic":
            ts = sde.eps + (1.0 - sde.eps) * (1.0 - u) ** 2
        else:
            lo, hi = sde.log_snr(torch.tensor([1.0, sde.eps], dtype=torch.float64))
            ts = sde.t_from_log_snr(lo + (hi - lo) * u)
            ts[0], ts[-1] = 1.0, sde.eps
        return ts.to(device=device, dtype=dtype)

    def __call__(
        self,
        prediction,
        shape: Sequence[int],
        sde: BaseSDE,
        noise: BaseNoise,
        generator: Optional[torch.Generator] = None,
        device=None,
        dtype=torch.float32,
    ) -> torch.Tensor:
        """Draw from the prior and integrate to data: returns ``(batch, length, channels)``."""
        x = sde.prior_sampling(shape, noise, generator=generator, device=device, dtype=dtype)
        return self.sample(prediction, x, sde, noise, generator)

    @abstractmethod
    def sample(self, prediction, x: torch.Tensor, sde: BaseSDE, noise: BaseNoise, generator=None) -> torch.Tensor:
        """Integrate ``x`` drawn from the prior down to ``t = sde.eps``."""
