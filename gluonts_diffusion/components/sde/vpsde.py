"""``vpsde``: the variance-preserving SDE of Song et al. (2021), the continuous limit of DDPM."""

import torch
import torch.nn.functional as F

from gluonts_diffusion.core.registry import Registry

from ._linear_beta import LinearBetaSDE


@Registry.register("sde", "vpsde")
class VPSDE(LinearBetaSDE):
    """``dx = -beta(t)/2 x dt + sqrt(beta(t)) dW`` with ``beta(t) = beta_min + t (beta_max - beta_min)``.

    Marginal: ``alpha(t) = exp(-t^2 (beta_max - beta_min)/4 - t beta_min/2)``, ``sigma = sqrt(1 - alpha^2)``.

    Args:
        beta_min, beta_max: the linear noise rate, ``0 <= beta_min < beta_max``.
        eps: smallest diffusion time used by training and sampling.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> None:
        super().__init__(beta_min=beta_min, beta_max=beta_max, eps=eps)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(-self.integrated_beta(t)))

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.beta(t) * self.alpha(t) ** 2 / self.sigma(t)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.beta(t))

    def prior_std(self) -> float:
        return 1.0

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        b = self.integrated_beta(t)
        return -b - torch.log(-torch.expm1(-b))

    def t_from_log_snr(self, lam: torch.Tensor) -> torch.Tensor:
        return self.time_of_integrated_beta(F.softplus(-lam))  # alpha^2 = sigmoid(lam): B = softplus(-lam)
