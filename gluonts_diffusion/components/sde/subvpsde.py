"""``subvpsde``: the sub-VP SDE of Song et al. (2021), whose variance stays below the VP SDE's."""

import torch

from gluonts_diffusion.core.registry import Registry

from ._linear_beta import LinearBetaSDE


@Registry.register("sde", "subvpsde")
class SubVPSDE(LinearBetaSDE):
    """``dx = -beta(t)/2 x dt + sqrt(beta(t) (1 - exp(-2 B(t)))) dW``, ``beta(t) = beta_min + t (beta_max - beta_min)``.

    With ``B(t) = int_0^t beta = t beta_min + t^2 (beta_max - beta_min)/2`` the marginal is
    ``alpha(t) = exp(-B(t)/2)`` and ``sigma(t) = 1 - exp(-B(t))`` (the std itself, no square root:
    Song et al., eq. 29). ``sigma(t) <= sqrt(1 - alpha^2)``, so every ``x_t`` has less variance than under
    the VP SDE with the same ``beta``. The prior is ``N(0, sigma(1)^2 Sigma)`` (``sigma(1) = 0.99996`` with
    the defaults; ``alpha(1) x_0`` is neglected, as for the VP SDE).

    Args:
        beta_min, beta_max: the linear noise rate, ``0 <= beta_min < beta_max``.
        eps: smallest diffusion time used by training and sampling.
    """

    compatibility = (
        "alpha^2 + sigma^2 < 1 (not exactly variance preserving): samplers must use alpha(t) and sigma(t) "
        "as given, not assume sigma = sqrt(1 - alpha^2)"
    )

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> None:
        super().__init__(beta_min=beta_min, beta_max=beta_max, eps=eps)

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return -torch.expm1(-self.integrated_beta(t))

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta(t) * torch.exp(-self.integrated_beta(t))

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(self.beta(t) * -torch.expm1(-2 * self.integrated_beta(t)))

    def prior_std(self) -> float:
        return float(self.sigma(torch.tensor(1.0, dtype=torch.float64)))

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        b = self.integrated_beta(t)
        return -b - 2 * torch.log(-torch.expm1(-b))

    def t_from_log_snr(self, lam: torch.Tensor) -> torch.Tensor:
        # exp(lam) = u / (1 - u)^2 with u = exp(-B); with w = exp(-lam) the root in (0, 1) gives
        # B = log1p((w + sqrt(w^2 + 4 w)) / 2); then solve a t^2 + b t = B for t >= 0.
        w = torch.exp(-lam)
        return self.time_of_integrated_beta(torch.log1p(0.5 * (w + torch.sqrt(w * (w + 4)))))
