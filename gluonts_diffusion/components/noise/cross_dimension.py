"""``cross_dimension``: noise correlated across the dimensions of a multivariate target, as the series' history is.

Correlated-noise diffusion replaces iid noise by a Gaussian process whose covariance matches structure of the
data: Bilos et al. (2023), "Modeling temporal data as continuous functions with stochastic process diffusion",
correlate the noise over time (``correlated``). Correlating it across the dimensions, with a covariance estimated
per series from its own history, is this package's adaptation of that idea, not a published recipe.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from gluonts_diffusion.core.base import BaseNoise
from gluonts_diffusion.core.registry import Registry

from ._wrapped import build_base_noise


def channel_correlation(past_scaled: torch.Tensor, past_observed: torch.Tensor) -> torch.Tensor:
    """Masked correlation ``(batch, C, C)`` (float64) of a history ``(batch, time, C)`` across its channels.

    Each channel is centred on the mean of its observed values and unobserved entries count as 0; the Gram
    matrix of these columns is scaled to unit diagonal. Unlike the pairwise-complete estimate it is positive
    semi-definite by construction (gaps shrink it toward 0). A channel with fewer than 2 observed values or no
    spread is uncorrelated with the others (an all-missing history gives the identity).
    """
    x = past_scaled.detach().to(torch.float64)
    w = past_observed.detach().to(torch.float64).expand_as(x)
    count = w.sum(1, keepdim=True)
    mean = (x * w).sum(1, keepdim=True) / count.clamp_min(1.0)
    centred = (x - mean) * w
    gram = centred.transpose(1, 2) @ centred  # (batch, C, C)
    var = torch.diagonal(gram, dim1=1, dim2=2)
    valid = (count.squeeze(1) >= 2) & (var > 1e-12 * count.squeeze(1).clamp_min(1.0))
    inv_std = torch.where(valid, var.clamp_min(1e-300).rsqrt(), torch.zeros_like(var))
    corr = gram * inv_std.unsqueeze(2) * inv_std.unsqueeze(1)
    eye = torch.eye(x.shape[-1], dtype=torch.float64, device=x.device)
    return torch.where(eye.bool(), eye.expand_as(corr), corr.clamp(-1.0, 1.0))


def _distinct_series(past_scaled: torch.Tensor, past_observed: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The history of each series once when every series' rows are repeated the same number of times in a row
    (``repeat_interleave``, as the model does for ``k`` sample paths), so the factors take ``batch`` not
    ``k * batch`` times ``C x C`` memory; otherwise the rows as they are."""
    rows = past_scaled.shape[0]
    key = torch.cat([past_scaled.reshape(rows, -1), past_observed.to(past_scaled.dtype).reshape(rows, -1)], 1)
    _, counts = torch.unique_consecutive(key, dim=0, return_counts=True)
    k = int(counts[0]) if counts.numel() else 1
    if k > 1 and bool((counts == k).all()):
        return past_scaled[::k], past_observed[::k]
    return past_scaled, past_observed


@Registry.register("noise", "cross_dimension")
class CrossDimensionNoise(BaseNoise):
    """``base_noise`` mixed across channels by ``Sigma_c = (1 - shrinkage) R + shrinkage I`` per series.

    ``R`` is the masked correlation of the scaled history across dimensions (:func:`channel_correlation`);
    shrinking it toward the identity keeps ``Sigma_c`` well conditioned (smallest eigenvalue >= ``shrinkage``)
    and guards against spurious correlation of short or trending histories: ``shrinkage=1`` is independent
    channels, small values trust the history. With the ``standard`` base, one time step of a row is
    ``N(0, Sigma_c)`` and time steps are independent; with a time-correlated base (``correlated``,
    ``structured``) the row's covariance is the Kronecker product ``Sigma_c (x) Sigma_t``.

    :meth:`conditioned_on` returns a *bound* copy holding the float64 Cholesky factors ``L_b`` of
    ``Sigma_c`` ``(batch, C, C)``; the unbound instance behaves exactly as ``base_noise``. A bound noise:

    * ``sample`` is ``base sample @ L_b^T`` (the same draws of the generator as the base);
    * ``covariance(length)`` is the base's covariance over time, which is that of each channel
      (``Sigma_c`` has unit diagonal); :meth:`channel_covariance` gives ``Sigma_c``;
    * ``whiten(z)`` solves ``L_b`` over the channel axis, then whitens over time with the base;
    * ``log_prob(z, scale)`` is the base's log density of the channel-whitened ``z`` minus
      ``0.5 * length * log det Sigma_c`` per row.

    A batch of ``k * batch`` rows (``k`` sample paths per series, adjacent as with ``repeat_interleave``)
    uses each series' factor for its ``k`` rows. One channel (univariate) is exactly the base noise.

    Args:
        shrinkage: weight of the identity in ``Sigma_c``, in (0, 1]; default 0.5.
        base_noise, base_params: the registered noise that is mixed (not ``"cross_dimension"``), its parameters.
    """

    compatibility = (
        "the noise depends on each series' history: the model must call conditioned_on(past_scaled, "
        "past_observed) on every batch, in training and prediction, keep the sample paths of one series in "
        "adjacent rows and diffuse the target's channels (it cannot be exported to ONNX)"
    )

    def __init__(
        self, shrinkage: float = 0.5, base_noise: str = "standard", base_params: Optional[Dict[str, Any]] = None
    ) -> None:
        if isinstance(shrinkage, bool) or not (
            isinstance(shrinkage, (int, float)) and math.isfinite(shrinkage) and 0 < shrinkage <= 1
        ):
            raise ValueError(f"shrinkage must be a number in (0, 1], got {shrinkage!r}")
        self.base = build_base_noise("cross_dimension", base_noise, base_params)
        self.shrinkage = float(shrinkage)
        self.base_noise = base_noise
        self.base_params = dict(base_params or {})
        self.chol: Optional[torch.Tensor] = None  # (batch, C, C) float64 when bound

    # ------------------------------------------------------------------ binding
    def channel_covariance(self, past_scaled: torch.Tensor, past_observed: torch.Tensor) -> torch.Tensor:
        """``Sigma_c`` ``(batch, C, C)`` (float64) of a history ``(batch, time[, C])`` and its observed mask."""
        x = past_scaled if past_scaled.ndim == 3 else past_scaled.unsqueeze(-1)
        w = past_observed if past_observed.ndim == x.ndim else past_observed.unsqueeze(-1)
        corr = channel_correlation(x, w)
        eye = torch.eye(corr.shape[-1], dtype=corr.dtype, device=corr.device)
        return (1 - self.shrinkage) * corr + self.shrinkage * eye

    def conditioned_on(self, past_scaled: torch.Tensor, past_observed: torch.Tensor) -> CrossDimensionNoise:
        bound = copy.copy(self)
        bound.base = self.base.conditioned_on(past_scaled, past_observed)
        x, w = _distinct_series(past_scaled, past_observed)
        bound.chol = torch.linalg.cholesky(self.channel_covariance(x, w))
        return bound

    @property
    def is_bound(self) -> bool:
        return self.chol is not None

    def _factor(self, z: torch.Tensor) -> Optional[torch.Tensor]:
        """The series' factors ``(batch, C, C)`` for ``z`` ``(k * batch, length, C)`` on its device and dtype;
        None when unbound or univariate (the base noise as it is)."""
        if self.chol is None or self.chol.shape[-1] == 1 and z.shape[-1] == 1:
            return None
        batch, channels = self.chol.shape[0], self.chol.shape[-1]
        if z.shape[-1] != channels:
            raise ValueError(f"cross_dimension noise bound to {channels} channels cannot serve {z.shape[-1]}")
        if z.shape[0] % batch:
            raise ValueError(
                f"cross_dimension noise bound to {batch} series cannot serve {z.shape[0]} rows (not a multiple)"
            )
        return self.chol.to(device=z.device, dtype=z.dtype)

    # ------------------------------------------------------------------ distribution
    def sample(self, shape: Sequence[int], generator: Optional[torch.Generator] = None, device=None, dtype=None):
        n = self.base.sample(shape, generator=generator, device=device, dtype=dtype)
        chol = self._factor(n)
        if chol is None:
            return n
        return (n.reshape(chol.shape[0], -1, n.shape[-1]) @ chol.transpose(1, 2)).reshape(n.shape)

    def covariance(self, length: int) -> torch.Tensor:
        return self.base.covariance(length)

    def _unmix(self, z: torch.Tensor, chol: Optional[torch.Tensor]) -> torch.Tensor:
        """``z L_b^{-T}``: solve the channel factor ``chol`` (of :meth:`_factor`) on each time step of each row."""
        if chol is None:
            return z
        grouped = z.reshape(chol.shape[0], -1, z.shape[-1]).transpose(1, 2)  # (batch, C, k * length)
        return torch.linalg.solve_triangular(chol, grouped, upper=False).transpose(1, 2).reshape(z.shape)

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        return self.base.whiten(self._unmix(z, self._factor(z)))

    def log_prob(self, z: torch.Tensor, scale=1.0) -> torch.Tensor:
        chol = self._factor(z)
        lp = self.base.log_prob(self._unmix(z, chol), scale)
        if chol is None or self.chol is None:
            return lp
        logdet = 2 * torch.log(torch.diagonal(self.chol, dim1=1, dim2=2)).sum(-1)  # float64, per series
        logdet = logdet.to(lp.device).repeat_interleave(z.shape[0] // logdet.shape[0])
        return lp - 0.5 * z.shape[1] * logdet.to(lp.dtype)
