"""``BaseObjective``: the interface of the objective component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional

import torch

from .component import Component
from .denoiser import Parameterization
from .noise import BaseNoise
from .sde import BaseSDE


class BaseObjective(Component, ABC):
    """A training loss for the denoiser.

    ``parameterization`` names what the network outputs (``eps``, ``x0``, ``score``, ``velocity`` or ``edm``) and
    ``sigma_data`` the data std the ``edm`` preconditioning assumes; the
    :class:`~gluonts_diffusion.core.denoiser.Denoiser` layer converts the output for the samplers.
    """

    parameterization: Parameterization = "eps"
    sigma_data: float = 1.0

    def sample_time(self, batch: int, sde: BaseSDE, generator=None, device=None, dtype=None) -> torch.Tensor:
        """Training times ``(batch,)``, uniform on ``[sde.eps, 1]`` by default."""
        u = torch.rand(batch, generator=generator, device=device, dtype=dtype)
        return sde.eps + (1 - sde.eps) * u

    @abstractmethod
    def loss(
        self,
        network,
        x0: torch.Tensor,
        mask: torch.Tensor,
        sde: BaseSDE,
        noise: BaseNoise,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Per-row loss ``(batch,)``. ``network(x_t, t)`` returns the raw output; ``mask`` (batch, length,
        channels) is 1 where ``x0`` is observed."""
