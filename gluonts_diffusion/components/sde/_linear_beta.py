"""The linear noise rate shared by the VP and sub-VP SDEs (private: not auto-imported as a component)."""

import math

import torch

from gluonts_diffusion.core.base import BaseSDE


class LinearBetaSDE(BaseSDE):
    """``dx = -beta(t)/2 x dt + ...`` with ``beta(t) = beta_min + t (beta_max - beta_min)`` (Song et al., 2021).

    Gives ``B(t) = int_0^t beta``, the mean coefficient ``alpha(t) = exp(-B(t)/2)``, its derivative, the
    drift and the inverse of ``B``; subclasses give ``sigma`` and the diffusion.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> None:
        super().__init__(eps=eps)
        if not (math.isfinite(beta_min) and beta_min >= 0):
            raise ValueError(f"beta_min must be a finite number >= 0, got {beta_min}")
        if not (math.isfinite(beta_max) and beta_max > beta_min):
            raise ValueError(f"beta_max must be finite and > beta_min={beta_min}, got {beta_max}")
        self.beta_min = float(beta_min)
        self.beta_max = float(beta_max)

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integrated_beta(self, t: torch.Tensor) -> torch.Tensor:
        """``B(t) = int_0^t beta(s) ds``."""
        return t * self.beta_min + 0.5 * t**2 * (self.beta_max - self.beta_min)

    def time_of_integrated_beta(self, big_b: torch.Tensor) -> torch.Tensor:
        """The ``t >= 0`` with ``B(t) = big_b`` (the stable root of ``a t^2 + b t - B = 0``)."""
        a, b = 0.5 * (self.beta_max - self.beta_min), self.beta_min
        return 2 * big_b / (b + torch.sqrt(b * b + 4 * a * big_b))

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * self.integrated_beta(t))

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * self.beta(t) * self.alpha(t)

    def drift_coef(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * self.beta(t)
