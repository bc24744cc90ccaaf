"""``BasePreprocessor``: the interface of the preprocessor component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from typing import Dict, Literal, Optional, Tuple

import torch
from torch import nn

from .component import Component, check_choice

#: how a series is normalized before encoding
Scaling = Literal["std", "mean", "none"]


class BasePreprocessor(Component, nn.Module):
    """Maps a window of the target to the object that is diffused, and back.

    Every preprocessor first normalizes each series with statistics of its observed history
    (``scaling``: ``std`` = standardize, ``mean`` = divide by the mean absolute value as GluonTS's
    MeanScaler, ``none``), then ``encode``s the normalized window into its representation.
    ``inverse_transform(transform(x)) == x`` exactly. Shapes: windows ``(batch, length, channels)``,
    state tensors ``(batch, 1, channels)``.
    """

    def __init__(self, scaling: Scaling = "std", min_scale: float = 1e-5) -> None:
        nn.Module.__init__(self)
        check_choice("scaling", scaling, Scaling)
        if not 0.0 <= float(min_scale) < 1.0:
            raise ValueError(f"min_scale must be in [0, 1) (relative to the series' level), got {min_scale!r}")
        self.scaling = scaling
        self.min_scale = float(min_scale)

    def fit(self, past_target: torch.Tensor, past_observed: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per-series ``loc`` and ``scale`` ``(batch, 1, channels)`` from the observed history.

        The floor is relative to the series: a spread below ``min_scale`` times the history's mean absolute
        level (a constant history) falls back to that level, an all-zero or unobserved history to 1, so a series
        multiplied by ``c`` gets ``c`` times the statistics at any magnitude. Series whose statistics overflow
        the data's dtype (finite values near the float32 limit, 1e38) are computed again in float64 (not on MPS).
        """
        state = self._statistics(past_target, past_observed)
        overflow = ~(torch.isfinite(state["loc"]) & torch.isfinite(state["scale"]))
        if overflow.any() and past_target.dtype != torch.float64 and past_target.device.type != "mps":
            wide = self._statistics(past_target.double(), past_observed.double())
            state = {k: torch.where(overflow, wide[k].to(v.dtype), v) for k, v in state.items()}
        return state

    def _statistics(self, x: torch.Tensor, observed: torch.Tensor) -> Dict[str, torch.Tensor]:
        """:meth:`fit` computed in ``x``'s dtype."""
        weight = observed.to(x.dtype)
        count = weight.sum(1, keepdim=True).clamp_min(1.0)
        level = (x.abs() * weight).sum(1, keepdim=True) / count
        if self.scaling == "std":
            loc = (x * weight).sum(1, keepdim=True) / count
            spread = ((((x - loc) * weight) ** 2).sum(1, keepdim=True) / count).sqrt()
        elif self.scaling == "mean":
            loc, spread = torch.zeros_like(level), level
        else:
            return {"loc": torch.zeros_like(count), "scale": torch.ones_like(count)}
        tiny = torch.finfo(x.dtype).tiny
        scale = torch.where(
            (spread > self.min_scale * level) & (spread > tiny),
            spread,
            torch.where(level > tiny, level, torch.ones_like(level)),
        )
        return {"loc": loc, "scale": scale}

    def normalize(self, x: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return (x - state["loc"]) / state["scale"]

    def denormalize(self, x: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return x * state["scale"] + state["loc"]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized window ``(batch, length, channels)`` -> representation ``(batch, length', channels')``."""
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`encode`."""
        return z

    def transform(self, x: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encode(self.normalize(x, state))

    def inverse_transform(self, z: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.denormalize(self.decode(z), state)

    def transform_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Observed-values mask in the diffused representation (default: unchanged)."""
        return mask

    def diffused_shape(self, length: int, channels: int) -> Tuple[int, int]:
        """Shape ``(length', channels')`` of ``encode`` applied to a ``(length, channels)`` window."""
        return length, channels

    def num_context_features(self, channels: int) -> int:
        """Number of extra per-time-step conditioning features :meth:`context_features` adds."""
        return 0

    def context_features(self, past_normalized: torch.Tensor, past_observed: torch.Tensor) -> Optional[torch.Tensor]:
        """Extra conditioning features ``(batch, context_length, F)`` computed from the history only."""
        return None
