"""Helpers shared by the objectives (a private module: not auto-imported as a component)."""

from typing import Optional

import torch

from gluonts_diffusion.core.base import BaseNoise, BaseSDE
from gluonts_diffusion.core.tensors import expand_t


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (batch, length, channels) over observed entries, per row -> (batch,)."""
    mask = mask.to(values.dtype)
    return (values * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)


def observed_count(mask: torch.Tensor, dtype=None) -> torch.Tensor:
    """Number of observed entries per row -> (batch,), at least 1."""
    return mask.to(dtype or torch.float32).flatten(1).sum(1).clamp_min(1.0)


def diffuse(x0: torch.Tensor, t: torch.Tensor, sde: BaseSDE, noise: BaseNoise, generator=None):
    """Draw ``x_t = alpha(t) x0 + sigma(t) n``; returns ``(x_t, n)``."""
    n = noise.sample(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return expand_t(sde.alpha(t), x0) * x0 + expand_t(sde.sigma(t), x0) * n, n


def whitened_sq_norm(residual: torch.Tensor, mask: Optional[torch.Tensor], noise: BaseNoise) -> torch.Tensor:
    """``|| Sigma^{-1/2} (mask * residual) ||^2`` per row -> (batch,).

    The ``Sigma^{-1}`` metric is the one in which the noise is white, i.e. the metric of the
    Girsanov/ELBO terms. With missing values the unobserved entries are zeroed before whitening, so the
    quadratic form is ``r_O^T (Sigma^{-1})_{OO} r_O`` on the observed entries (exact for iid noise,
    a positive-definite surrogate for correlated noise that keeps the same minimiser).
    """
    if mask is not None:
        residual = residual * mask.to(residual.dtype)
    return noise.whiten(residual).pow(2).flatten(1).sum(1)


def sample_time_logsnr(batch: int, sde: BaseSDE, generator=None, device=None, dtype=None) -> torch.Tensor:
    """Times whose log-SNR is uniform between ``log_snr(1)`` and ``log_snr(eps)`` -> (batch,).

    The density of ``t`` is ``|d log_snr/dt| / (log_snr(eps) - log_snr(1))``: importance sampling
    proportional to the likelihood weighting ``g^2 / sigma^2`` (Song et al., 2021; Kingma et al., 2021).
    """
    lo, hi = sde.log_snr_range()
    u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    t = sde.t_from_log_snr((lo + (hi - lo) * u).to(device))
    return t.clamp(sde.eps, 1.0).to(dtype=dtype or torch.get_default_dtype())
