"""``BaseSDE``: the interface of the SDE component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Optional, Sequence, Tuple

import torch

from .component import Component
from .noise import BaseNoise
from .tensors import expand_t, time_derivative


class BaseSDE(Component, ABC):
    """A forward SDE ``dx = f(t) x dt + g(t) Sigma^{1/2} dW`` on ``t in [eps, 1]`` (Song et al., 2021).

    Subclasses give the marginal coefficients ``alpha(t)``, ``sigma(t)``; drift coefficient ``f`` and
    diffusion ``g`` follow from them (``f = d log alpha/dt``, ``g^2 = d sigma^2/dt - 2 f sigma^2``) unless
    overridden with closed forms. All take and return ``(batch,)`` tensors.
    """

    def __init__(self, eps: float = 1e-3) -> None:
        """``eps``: the smallest diffusion time used by training and sampling, in (0, 1)."""
        if not 0 < eps < 1:
            raise ValueError(f"eps must be in (0, 1), got {eps}")
        self.eps = float(eps)

    @abstractmethod
    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Mean coefficient: ``E[x_t | x_0] = alpha(t) x_0``."""

    @abstractmethod
    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Std coefficient: ``Cov[x_t | x_0] = sigma(t)^2 Sigma``."""

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """``d alpha / dt`` (by autograd unless overridden with a closed form)."""
        return time_derivative(self.alpha, t)

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        """``d sigma / dt`` (by autograd unless overridden with a closed form)."""
        return time_derivative(self.sigma, t)

    def drift_coef(self, t: torch.Tensor) -> torch.Tensor:
        """``f(t)``: the drift is ``f(t) x``."""
        return self.d_alpha(t) / self.alpha(t)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """``g(t)``."""
        s = self.sigma(t)
        g2 = 2 * s * self.d_sigma(t) - 2 * self.drift_coef(t) * s**2
        return g2.clamp_min(0).sqrt()

    def sde(self, x: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Drift ``f(t) x`` (shape of x) and diffusion ``g(t)`` (batch,)."""
        return expand_t(self.drift_coef(t), x) * x, self.diffusion(t)

    def marginal_prob(self, x0: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean ``alpha(t) x0`` and std ``sigma(t)`` (batch,) of ``x_t | x_0``."""
        return expand_t(self.alpha(t), x0) * x0, self.sigma(t)

    def prior_std(self) -> float:
        """Std of the prior ``p_1 = N(0, prior_std^2 Sigma)``."""
        return float(self.sigma(torch.tensor([1.0], dtype=torch.float64)))

    def prior_sampling(
        self,
        shape: Sequence[int],
        noise: BaseNoise,
        generator: Optional[torch.Generator] = None,
        device=None,
        dtype=None,
    ) -> torch.Tensor:
        return self.prior_std() * noise.sample(shape, generator=generator, device=device, dtype=dtype)

    def prior_logp(self, z: torch.Tensor, noise: BaseNoise) -> torch.Tensor:
        """Log density of the prior at ``z`` -> (batch,)."""
        return noise.log_prob(z, self.prior_std())

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        """``lambda(t) = log(alpha^2 / sigma^2)``, decreasing in t."""
        return 2 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def log_snr_range(self) -> torch.Tensor:
        """``(lambda(1), lambda(eps))`` in float64: the log-SNR at the prior and at the data end of the path."""
        return self.log_snr(torch.tensor([1.0, self.eps], dtype=torch.float64))

    def t_from_log_snr(self, lam: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`log_snr` (bisection on [eps, 1]; closed forms override)."""
        lo = torch.full_like(lam, self.eps, dtype=torch.float64)
        hi = torch.ones_like(lam, dtype=torch.float64)
        lam = lam.to(torch.float64)
        for _ in range(60):
            mid = (lo + hi) / 2
            above = self.log_snr(mid) > lam
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
        return (lo + hi) / 2

    def reverse_drift(
        self, x: torch.Tensor, t: torch.Tensor, score: torch.Tensor, probability_flow: bool = False
    ) -> torch.Tensor:
        """Drift of the reverse-time SDE (or of the probability-flow ODE) given the preconditioned score."""
        drift, g = self.sde(x, t)
        factor = 0.5 if probability_flow else 1.0
        return drift - factor * expand_t(g**2, x) * score
