"""``variational_bound``: the continuous-time ELBO of Variational Diffusion Models (Kingma et al., 2021).

Equivalently the likelihood-weighted score matching bound of Song et al. (2021), "Maximum likelihood
training of score-based diffusion models".
"""

import math
from typing import Optional, Tuple

import torch

from gluonts_diffusion.core.base import BaseNoise, BaseObjective, BaseSDE
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import full_t, time_derivative

from ._common import diffuse, observed_count, sample_time_logsnr, whitened_sq_norm


@Registry.register("objective", "variational_bound")
class VariationalBoundObjective(BaseObjective):
    """Diffusion term of the continuous-time ELBO; the network predicts the noise.

    Per row, with ``lambda(t) = log(alpha^2 / sigma^2)`` (``sde.log_snr``)::

        L = integral_eps^1  0.5 * (-d lambda/dt) * || eps - eps_hat(x_t, t) ||^2_{Sigma^{-1}} dt / n_obs

    estimated with one time per row: ``t`` uniform in log-SNR (``importance_sampling``, weight
    ``0.5 * (lambda(eps) - lambda(1))``, the low-variance choice) or uniform in ``t`` (weight
    ``0.5 * (1 - eps) * (-d lambda/dt)``). The norm is whitened by the noise covariance, so the value
    is in nats per observed point. :meth:`nll_bound` adds the prior and reconstruction terms.

    Args:
        importance_sampling: draw ``t`` uniform in log-SNR instead of uniform in ``t``.
    """

    compatibility = "needs an SDE whose log-SNR decreases strictly on [eps, 1]"

    def __init__(self, importance_sampling: bool = True) -> None:
        if not isinstance(importance_sampling, bool):
            raise ValueError(f"importance_sampling must be a bool, got {importance_sampling!r}")
        self.importance_sampling = importance_sampling

    def check_compatibility(self, components):
        sde = components.get("sde")
        if sde is None:
            return None
        t = torch.linspace(sde.eps, 1.0, 129, dtype=torch.float64)
        try:
            lam = sde.log_snr(t)
        except Exception as err:  # noqa: BLE001 - report any failure as the reason
            return f"variational_bound needs the SDE's log-SNR: {err}"
        if not torch.isfinite(lam).all() or not (lam[1:] < lam[:-1]).all():
            return "variational_bound needs a finite log-SNR strictly decreasing on [eps, 1]"
        return None

    def sample_time(self, batch, sde, generator=None, device=None, dtype=None):
        if self.importance_sampling:
            return sample_time_logsnr(batch, sde, generator=generator, device=device, dtype=dtype)
        return super().sample_time(batch, sde, generator=generator, device=device, dtype=dtype)

    def time_weight(self, t: torch.Tensor, sde) -> torch.Tensor:
        """``0.5 * (-d lambda/dt) / density(t)`` so that the row loss is an unbiased integral estimate."""
        if self.importance_sampling:
            lo, hi = sde.log_snr_range()
            return torch.full_like(t, 0.5 * float(hi - lo))
        return 0.5 * (1.0 - sde.eps) * (-time_derivative(sde.log_snr, t))

    def loss(self, network, x0, mask, sde, noise, generator: Optional[torch.Generator] = None):
        t = self.sample_time(x0.shape[0], sde, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t, n = diffuse(x0, t, sde, noise, generator)
        sq = whitened_sq_norm(network(x_t, t) - n, mask, noise)
        return self.time_weight(t, sde) * sq / observed_count(mask, x0.dtype)

    @torch.no_grad()
    def nll_bound(
        self,
        network,
        x0: torch.Tensor,
        mask: Optional[torch.Tensor],
        sde,
        noise,
        num_t: int = 100,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Upper bound on ``-log p(x0)`` in nats per observed point, per row -> (batch,).

        ``-log p(x0) <= E[-log p(x0 | x_eps)] + D + KL(q(x_1 | x0) || p_1)`` (Kingma et al., 2021, eq. 11
        with the chain truncated at ``t = eps``):

        * reconstruction: Gaussian decoder ``p(x0 | x_eps) = N(x_eps / alpha, (sigma / alpha)^2 Sigma)``
          at ``t = eps``; its expected value is closed form (no network call);
        * diffusion ``D``: the integral of :meth:`loss`'s integrand, by the midpoint rule on ``num_t``
          points uniform in log-SNR, one noise draw per point and row (unbiased in the noise,
          quadrature error O(num_t^-2));
        * prior: closed-form KL between ``N(alpha_1 x0, sigma_1^2 Sigma)`` and ``N(0, prior_std^2 Sigma)``.

        Approximations: with missing values the noise is whitened after zeroing the unobserved entries
        and ``log det Sigma`` is charged per observed point as its per-point average (both exact for
        iid noise); the bound is on the continuous density of the diffused (preprocessed) object.
        """
        if int(num_t) < 1:
            raise ValueError(f"num_t must be >= 1, got {num_t}")
        if mask is None:
            mask = torch.ones_like(x0)
        count = observed_count(mask, x0.dtype)
        recon = _reconstruction_term(x0, count, sde, noise)
        prior = _prior_term(x0, mask, count, sde, noise)
        diffusion = _diffusion_term(network, x0, mask, sde, noise, int(num_t), generator)
        return (recon + diffusion + prior) / count


def _coefficients(sde: BaseSDE, t: float) -> Tuple[float, float]:
    """``alpha(t)``, ``sigma(t)`` at one time, as floats."""
    tt = torch.tensor([t], dtype=torch.float64)
    return float(sde.alpha(tt)), float(sde.sigma(tt))


def _reconstruction_term(x0: torch.Tensor, count: torch.Tensor, sde: BaseSDE, noise: BaseNoise) -> torch.Tensor:
    """Expected ``-log N(x0; x_eps / alpha, (sigma / alpha)^2 Sigma)`` at ``t = eps`` (closed form) -> (batch,).

    ``E || whiten(sigma n / alpha) ||^2 / (sigma / alpha)^2 = n_obs``; ``log det Sigma`` (of the whole
    ``(length, channels)`` window, per row: a noise may correlate channels) is charged per observed point as its
    per-point average, read off the noise's log density at 0.
    """
    zero = torch.zeros(x0.shape, dtype=torch.float64)  # on the CPU: float64 everywhere (not on MPS)
    points = zero[0].numel()
    logdet = -2 * noise.log_prob(zero) - points * math.log(2 * math.pi)
    logdet_per_point = (logdet / points).to(device=x0.device, dtype=x0.dtype)
    a0, s0 = _coefficients(sde, sde.eps)
    return 0.5 * count * (1.0 + math.log(2 * math.pi * (s0 / a0) ** 2) + logdet_per_point)


def _prior_term(
    x0: torch.Tensor, mask: torch.Tensor, count: torch.Tensor, sde: BaseSDE, noise: BaseNoise
) -> torch.Tensor:
    """Closed-form KL between ``N(alpha_1 x0, sigma_1^2 Sigma)`` and the prior ``N(0, prior_std^2 Sigma)`` -> (batch,)."""
    a1, s1 = _coefficients(sde, 1.0)
    sp = sde.prior_std()
    ratio = (s1 / sp) ** 2
    mean_sq = whitened_sq_norm(a1 * x0, mask, noise) / sp**2
    return 0.5 * (count * (ratio - 1.0 - math.log(ratio)) + mean_sq)


def _diffusion_term(
    network, x0: torch.Tensor, mask: torch.Tensor, sde: BaseSDE, noise: BaseNoise, num_t: int, generator
) -> torch.Tensor:
    """The integral of the loss's integrand by the midpoint rule on ``num_t`` points uniform in log-SNR -> (batch,)."""
    lo, hi = (float(v) for v in sde.log_snr_range())
    lams = lo + (hi - lo) * (torch.arange(num_t, dtype=torch.float64) + 0.5) / num_t
    ts = sde.t_from_log_snr(lams)
    batch = x0.shape[0]
    diffusion = torch.zeros(batch, dtype=x0.dtype, device=x0.device)
    for t_k in ts:
        t = full_t(float(t_k), batch, x0)
        x_t, n = diffuse(x0, t, sde, noise, generator)
        diffusion = diffusion + whitened_sq_norm(network(x_t, t) - n, mask, noise)
    return 0.5 * (hi - lo) / num_t * diffusion
