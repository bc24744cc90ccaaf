"""``BaseNoise``: the interface of the noise component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Sequence

import torch

from .component import Component
from .tensors import expand_t


class BaseNoise(Component, ABC):
    """The distribution of the diffusion noise ``n``: zero mean, covariance ``Sigma`` over the time axis.

    Batch rows are independent; channels too, unless a noise says otherwise (``cross_dimension`` correlates
    them, and its :meth:`covariance` is that of one channel). ``sample`` must have exactly the covariance that
    :meth:`covariance` declares; samplers draw every stochastic increment from it, and whiten with :meth:`whiten`.
    """

    @abstractmethod
    def sample(
        self, shape: Sequence[int], generator: Optional[torch.Generator] = None, device=None, dtype=None
    ) -> torch.Tensor:
        """Noise of ``shape`` ``(batch, length, channels)``."""

    @abstractmethod
    def covariance(self, length: int) -> torch.Tensor:
        """The declared ``(length, length)`` covariance of one channel of one row (float64)."""

    def conditioned_on(self, past_scaled: torch.Tensor, past_observed: torch.Tensor) -> BaseNoise:
        """Noise for a batch of series given their (scaled) history; data-dependent noise overrides this."""
        return self

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        """``Sigma^{-1/2} z`` along the time axis (via the Cholesky factor of :meth:`covariance`)."""
        chol = torch.linalg.cholesky(self.covariance(z.shape[1])).to(z)
        return torch.linalg.solve_triangular(chol, z, upper=False)

    def log_prob(self, z: torch.Tensor, scale: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Log density of ``scale * n`` at ``z`` (batch, length, channels) summed per row -> (batch,)."""
        scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
        white = self.whiten(z / (expand_t(scale, z) if scale.ndim else scale))
        chol = torch.linalg.cholesky(self.covariance(z.shape[1]))
        length, channels = z.shape[1], z.shape[2]
        logdet = 2 * torch.log(torch.diagonal(chol)).sum().to(z) + 2 * length * torch.log(scale)
        return -0.5 * white.pow(2).flatten(1).sum(1) - 0.5 * channels * (
            logdet + length * torch.log(torch.tensor(2 * torch.pi, dtype=z.dtype, device=z.device))
        )
