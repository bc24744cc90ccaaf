"""``multi_scale``: causal aggregated views of the history as extra conditioning features."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

import torch

from gluonts_diffusion.core.base import BasePreprocessor
from gluonts_diffusion.core.preprocessor import Scaling
from gluonts_diffusion.core.registry import Registry

from ._indicators import rolling_mean


@Registry.register("preprocessing", "multi_scale")
class MultiScalePreprocessor(BasePreprocessor):
    """Multi-scale conditioning: for each scale ``s`` the causal rolling mean of the normalized history
    over its last ``s`` observed steps (unobserved steps are skipped; 0 where none is observed), in the
    spirit of multi-resolution conditioning (e.g. Shen et al., "MG-TSD", 2024; Fan et al., "MR-Diff", 2024).

    The diffused window is the normalized target itself (identity encode). Context features are
    ``(batch, context_length, len(scales) * channels)``, ordered scale-major:
    ``[scale_0: ch_0..ch_C-1, scale_1: ..., ...]``. Step ``t`` uses history steps ``<= t`` only.

    Args:
        scales: window sizes (positive integers); scale 1 is the (masked) series itself.
        scaling, min_scale: per-series normalization, see ``raw``.
    """

    def __init__(self, scales: Sequence[int] = (1, 7, 30), scaling: Scaling = "std", min_scale: float = 1e-5) -> None:
        super().__init__(scaling=scaling, min_scale=min_scale)
        values: List[Any] = [scales] if isinstance(scales, (int, float)) else list(scales)  # one scale may be a number
        if not values or any(isinstance(s, bool) or int(s) != s or int(s) < 1 for s in values):
            raise ValueError(f"scales must be a non-empty list of positive integers, got {values!r}")
        self.scales: List[int] = [int(s) for s in values]

    def num_context_features(self, channels: int) -> int:
        return len(self.scales) * channels

    def context_features(self, past_normalized: torch.Tensor, past_observed: torch.Tensor) -> Optional[torch.Tensor]:
        weight = past_observed.to(past_normalized.dtype)
        x = torch.where(past_observed.bool(), past_normalized, torch.zeros_like(past_normalized))
        return torch.cat([rolling_mean(x, s, weight) for s in self.scales], dim=-1)
