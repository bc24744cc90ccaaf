"""``vpsde``: the variance-preserving SDE of Song et al. (2021), the continuous limit of DDPM."""

import torch
import torch.nn.functional as F

from gluonts_diffusion.core.base import BaseSDE
from gluonts_diffusion.core.registry import Registry


@Registry.register("sde", "vpsde")
class VPSDE(BaseSDE):
    """``dx = -beta(t)/2 x dt + sqrt(beta(t)) dW`` with ``beta(t) = beta_min + t (beta_max - beta_min)``.

    Marginal: ``alpha(t) = exp(-t^2 (beta_max - beta_min)/4 - t beta_min/2)``, ``sigma = sqrt(1 - alpha^2)``.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> None:
        super().__init__(eps=eps)
        if not 0 <= beta_min < beta_max:
            raise ValueError(f"need 0 <= beta_min < beta_max, got beta_min={beta_min}, beta_max={beta_max}")
        self.beta_min = float(beta_min)
        self.beta_max = float(beta_max)

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(2 * self.log_alpha(t)))

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * self.beta(t) * self.alpha(t)

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.beta(t) * self.alpha(t) ** 2 / self.sigma(t)

    def drift_coef(self, t: torch.Tensor) -> torch.Tensor:
        return -0.5 * self.beta(t)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.beta(t))

    def prior_std(self) -> float:
        return 1.0

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        la = self.log_alpha(t)
        return 2 * la - torch.log(-torch.expm1(2 * la))

    def t_from_log_snr(self, lam: torch.Tensor) -> torch.Tensor:
        c = 0.5 * F.softplus(-lam)  # = -log alpha
        a, b = 0.25 * (self.beta_max - self.beta_min), 0.5 * self.beta_min
        return 2 * c / (b + torch.sqrt(b * b + 4 * a * c))  # stable root of a t^2 + b t - c = 0
