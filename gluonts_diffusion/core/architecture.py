"""``BaseArchitecture``: the interface of the architecture component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Optional

import torch
from torch import nn

from .component import Component


class BaseArchitecture(Component, nn.Module):
    """A denoiser network ``f(x_t, t, cond) -> (batch, length, channels)``.

    Built with the shapes it serves; ``encode`` turns the history into a conditioning object once per
    series, and ``forward`` is called at every diffusion step with that object.

    Args:
        length, channels: shape of the diffused object.
        context_length: time steps of history.
        context_dim: features per history step (scaled target, observed mask, lags, time features...).
        future_dim: known features per step of the prediction window (time features, age).
        prediction_length: steps of the prediction window (the future features' length).
    """

    filled_by_model = ("length", "channels", "context_length", "context_dim", "future_dim", "prediction_length")

    def __init__(
        self,
        length: int,
        channels: int,
        context_length: int,
        context_dim: int,
        future_dim: int,
        prediction_length: Optional[int] = None,
    ) -> None:
        nn.Module.__init__(self)
        self.length = length
        self.channels = channels
        self.context_length = context_length
        self.context_dim = context_dim
        self.future_dim = future_dim
        self.prediction_length = prediction_length or length

    @abstractmethod
    def encode(self, context: torch.Tensor, future_features: torch.Tensor, drop: Optional[torch.Tensor] = None) -> Any:
        """``context`` (batch, context_length, context_dim), ``future_features`` (batch, prediction_length,
        future_dim) -> conditioning. ``drop`` (batch,) bool marks rows whose condition is replaced by the
        learned null condition (classifier-free guidance)."""

    @abstractmethod
    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        """``x_t`` (batch, length, channels), ``t`` (batch,) in [0, 1] -> (batch, length, channels)."""

    @staticmethod
    def repeat_condition(cond: Any, repeats: int) -> Any:
        """Repeat a conditioning object ``repeats`` times per row (sample paths of one series are adjacent)."""
        if isinstance(cond, torch.Tensor):
            return cond.repeat_interleave(repeats, dim=0)
        if isinstance(cond, (tuple, list)):
            return type(cond)(BaseArchitecture.repeat_condition(c, repeats) for c in cond)
        if isinstance(cond, dict):
            return {k: BaseArchitecture.repeat_condition(v, repeats) for k, v in cond.items()}
        return cond
