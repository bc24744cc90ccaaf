"""``BaseSampler``: the interface of the sampler component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Sequence

import torch

from .component import Component, check_int
from .denoiser import Denoiser
from .noise import BaseNoise
from .registry import Registry
from .sde import BaseSDE
from .tensors import full_t
from .time_grid import BaseTimeGrid


class BaseSampler(Component, ABC):
    """Integrates from the prior at t=1 to data at t=eps using a :class:`~gluonts_diffusion.core.denoiser.Denoiser`.

    Args:
        num_steps: number of time steps.
        time_grid: name of a registered time grid (``Registry.list("time_grid")``): ``uniform`` in t,
            ``quadratic`` (denser near data), ``logsnr`` (uniform in log-SNR) or ``karras`` (Karras et al.,
            2022, rho = 7) are built in.
        denoise: after the last step return the denoiser's ``x0`` prediction at ``t = sde.eps`` (Song et
            al., 2021's ``denoise=True``; one more network evaluation) instead of ``x_eps``.

    Subclasses end :meth:`sample` with ``return self.finish(denoiser, x, sde)``.
    """

    def __init__(self, num_steps: int = 50, time_grid: str = "uniform", denoise: bool = False) -> None:
        check_int("num_steps", num_steps, 1)
        known = Registry.list("time_grid")
        if time_grid not in known:
            raise ValueError(f"unknown time_grid {time_grid!r}; known time grids: {', '.join(known)}")
        self.num_steps = int(num_steps)
        self.time_grid = time_grid
        self.denoise = bool(denoise)

    @property
    def nfe(self) -> int:
        """Network evaluations per sample path (the final denoising step included)."""
        return self.num_steps + self.denoise

    def finish(self, denoiser: Denoiser, x: torch.Tensor, sde: BaseSDE) -> torch.Tensor:
        """``x`` at ``t = sde.eps`` ``(batch, length, channels)``, or its ``x0`` prediction when ``denoise``."""
        if not self.denoise:
            return x
        return denoiser.x0(x, full_t(sde.eps, x.shape[0], x))

    def timesteps(self, sde: BaseSDE, device=None, dtype=torch.float32) -> torch.Tensor:
        """Decreasing grid ``(num_steps + 1,)`` from 1 to ``sde.eps``, from the registered ``time_grid``."""
        grid: BaseTimeGrid = Registry.get("time_grid", self.time_grid)
        return grid(sde, self.num_steps).to(device=device, dtype=dtype)

    def __call__(
        self,
        denoiser: Denoiser,
        shape: Sequence[int],
        sde: BaseSDE,
        noise: BaseNoise,
        generator: Optional[torch.Generator] = None,
        device=None,
        dtype=torch.float32,
    ) -> torch.Tensor:
        """Draw from the prior and integrate to data: returns ``(batch, length, channels)``."""
        x = sde.prior_sampling(shape, noise, generator=generator, device=device, dtype=dtype)
        return self.sample(denoiser, x, sde, noise, generator)

    @abstractmethod
    def sample(
        self,
        denoiser: Denoiser,
        x: torch.Tensor,
        sde: BaseSDE,
        noise: BaseNoise,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Integrate ``x`` ``(batch, length, channels)`` drawn from the prior down to ``t = sde.eps``."""
