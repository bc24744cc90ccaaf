"""``adaptive``: a data-dependent noise level, set per series from the roughness of its history.

Not taken from one paper: a simple, documented heuristic (the ratio of the std of first differences to
the std of the level, as in the variance-ratio statistic) that gives smooth series less noise.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, Optional, Sequence

import torch

from gluonts_diffusion.core.base import BaseNoise
from gluonts_diffusion.core.registry import Registry

from ._wrapped import build_base_noise


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@Registry.register("noise", "adaptive")
class AdaptiveNoise(BaseNoise):
    """``base_noise`` multiplied by a per-series scale computed from the series' history.

    The scale is the roughness of the history, ``std(first differences) / (sqrt(2) std(level))`` over the
    observed values (1 for white noise, near 0 for smooth or trending series, up to sqrt(2) for
    alternating ones), averaged over channels and clipped to ``[min_scale, max_scale]``; a history with
    fewer than 3 observed values or no spread gets 1 before clipping.

    :meth:`conditioned_on` returns a *bound* copy holding ``row_scale`` ``(batch,)``; the unbound
    instance behaves exactly as ``base_noise`` (standard noise by default). For a bound noise:

    * ``sample`` returns ``row_scale[b] * base sample`` for row ``b``;
    * ``covariance(length)`` is per series: ``(batch, length, length) = row_scale[b]^2 * base covariance``
      (the unbound one is the base's ``(length, length)``);
    * ``whiten(z)`` is ``base.whiten(z / row_scale[b])``, so whitened samples are iid N(0, 1);
    * ``log_prob(z, scale)`` is the density of ``scale * n`` with ``n`` from the bound noise, i.e. of
      ``base`` noise scaled by ``scale * row_scale[b]`` (its log-determinant counts the row scale).

    A batch of ``k * batch`` rows (``k`` sample paths per series, adjacent as with ``repeat_interleave``)
    uses each series' scale for its ``k`` rows.

    Args:
        min_scale, max_scale: clipping range of the per-series scale, ``0 < min_scale <= max_scale``.
        base_noise: registered name of the noise that is scaled (not ``"adaptive"``).
        base_params: parameters of ``base_noise``.
    """

    compatibility = (
        "the noise level depends on each series' history: the model must call conditioned_on(past_scaled, "
        "past_observed) on every batch, in training and prediction, and keep the sample paths of one series "
        "in adjacent rows"
    )

    def __init__(
        self,
        min_scale: float = 0.1,
        max_scale: float = 1.0,
        base_noise: str = "standard",
        base_params: Optional[Dict[str, Any]] = None,
    ) -> None:
        if not (_number(min_scale) and min_scale > 0):
            raise ValueError(f"min_scale must be a finite number > 0, got {min_scale!r}")
        if not (_number(max_scale) and max_scale >= min_scale):
            raise ValueError(f"max_scale must be a finite number >= min_scale={min_scale}, got {max_scale!r}")
        self.base = build_base_noise("adaptive", base_noise, base_params)
        self.min_scale = float(min_scale)
        self.max_scale = float(max_scale)
        self.base_noise = base_noise
        self.base_params = dict(base_params or {})
        self.row_scale: Optional[torch.Tensor] = None

    # ------------------------------------------------------------------ binding
    def scale_from_history(self, past_scaled: torch.Tensor, past_observed: torch.Tensor) -> torch.Tensor:
        """Per-series scale ``(batch,)`` from a history ``(batch, time[, channels])`` and its observed mask."""
        x = past_scaled if past_scaled.ndim == 3 else past_scaled.unsqueeze(-1)
        w = past_observed.to(x.dtype)
        if w.ndim == x.ndim - 1:
            w = w.unsqueeze(-1)
        w = w.expand_as(x)
        observed = w > 0
        x = torch.where(observed, x, torch.zeros_like(x))

        def weighted_var(values: torch.Tensor, weight: torch.Tensor):
            count = weight.sum(1)
            mean = (values * weight).sum(1) / count.clamp_min(1)
            var = (((values - mean.unsqueeze(1)) * weight) ** 2).sum(1) / count.clamp_min(1)
            return var, count

        level_var, count = weighted_var(x, w)
        diff_var, _ = weighted_var(x[:, 1:] - x[:, :-1], w[:, 1:] * w[:, :-1])
        valid = (count >= 3) & (level_var > 1e-12)
        ratio = torch.sqrt(diff_var / (2 * level_var.clamp_min(1e-12)))
        ratio = torch.where(valid, ratio, torch.ones_like(ratio))  # (batch, channels)
        return ratio.mean(-1).clamp(self.min_scale, self.max_scale)

    def conditioned_on(self, past_scaled: torch.Tensor, past_observed: torch.Tensor) -> AdaptiveNoise:
        bound = copy.copy(self)
        bound.base = self.base.conditioned_on(past_scaled, past_observed)
        bound.row_scale = self.scale_from_history(past_scaled, past_observed).detach()
        return bound

    @property
    def is_bound(self) -> bool:
        return self.row_scale is not None

    def _rows(self, rows: int, like: torch.Tensor) -> Optional[torch.Tensor]:
        """Per-row scale ``(rows,)`` on ``like``'s device and dtype, or None when unbound."""
        if self.row_scale is None:
            return None
        scale = self.row_scale.to(device=like.device, dtype=like.dtype)
        batch = scale.shape[0]
        if rows != batch:
            if rows % batch:
                raise ValueError(f"adaptive noise bound to {batch} series cannot serve {rows} rows (not a multiple)")
            scale = scale.repeat_interleave(rows // batch)
        return scale

    # ------------------------------------------------------------------ distribution
    def sample(self, shape: Sequence[int], generator: Optional[torch.Generator] = None, device=None, dtype=None):
        n = self.base.sample(shape, generator=generator, device=device, dtype=dtype)
        scale = self._rows(n.shape[0], n)
        return n if scale is None else n * scale.reshape(-1, *([1] * (n.ndim - 1)))

    def covariance(self, length: int) -> torch.Tensor:
        cov = self.base.covariance(length).to(torch.float64)
        if self.row_scale is None:
            return cov
        return self.row_scale.detach().to("cpu", torch.float64).reshape(-1, 1, 1) ** 2 * cov

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        scale = self._rows(z.shape[0], z)
        return self.base.whiten(z if scale is None else z / scale.reshape(-1, 1, 1))

    def log_prob(self, z: torch.Tensor, scale=1.0) -> torch.Tensor:
        rows = self._rows(z.shape[0], z)
        if rows is None:
            return self.base.log_prob(z, scale)
        return self.base.log_prob(z, torch.as_tensor(scale, dtype=z.dtype, device=z.device) * rows)
