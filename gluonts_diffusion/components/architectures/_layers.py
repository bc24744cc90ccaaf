"""Building blocks shared by the architectures (not a component: underscore files are not registered).

* :class:`SinusoidalTimeEmbedding` -- diffusion time ``t`` (batch,) in [0, 1] -> (batch, dim)
  (sinusoids of ``1000 t`` as in DDPM / DiffWave, then a two-layer SiLU MLP);
* :class:`NullCondition` -- a learned null vector replacing the condition of dropped rows
  (classifier-free guidance, Ho & Salimans, 2022);
* :func:`nonempty` -- one step / one feature of zeros in place of an empty sequence;
* :func:`resample_length` -- linear interpolation of a ``(batch, L, F)`` sequence to another length;
* :class:`ContextEncoder` -- GRU or LSTM over the history ``(batch, context_length, context_dim)`` giving
  per-step states and a summary vector;
* :func:`apply_drop` -- replace rows of a tensor by a null tensor where ``drop`` is True;
* :func:`summary_with_future` -- a history summary broadcast over the window, with the future features;
* :func:`check_at_least`, :func:`check_kernel_size`, :func:`check_dropout` -- hyper-parameter checks.
"""

from __future__ import annotations

import math
from typing import Literal, Optional, Tuple, cast

import torch
from torch import nn
from torch.nn import functional as F

from gluonts_diffusion.core.component import check_int

#: the recurrent cells of :class:`ContextEncoder` and of the ``rnn`` architecture
RNN_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class SinusoidalTimeEmbedding(nn.Module):
    """``t`` (batch,) in [0, 1] -> (batch, dim): sinusoidal features of ``1000 t`` followed by an MLP."""

    def __init__(self, dim: int, max_period: float = 10000.0) -> None:
        super().__init__()
        if int(dim) < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        self.dim = int(dim)
        self.max_period = float(max_period)
        self.mlp = nn.Sequential(nn.Linear(self.dim, 4 * self.dim), nn.SiLU(), nn.Linear(4 * self.dim, self.dim))

    def sinusoids(self, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(-1).to(torch.float32) * 1000.0
        half = self.dim // 2
        freqs = torch.exp(
            -math.log(self.max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / max(half, 1)
        )
        args = t[:, None] * freqs[None]
        emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
        if self.dim % 2:
            emb = F.pad(emb, (0, 1))
        return emb

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        emb = self.sinusoids(t)
        first = cast(nn.Linear, self.mlp[0])
        return self.mlp(emb.to(first.weight.dtype))


def apply_drop(x: torch.Tensor, null: torch.Tensor, drop: Optional[torch.Tensor]) -> torch.Tensor:
    """Rows of ``x`` (batch, ...) where ``drop`` (batch,) is True become ``null`` (broadcast to x[0])."""
    if drop is None:
        return x
    drop = drop.to(device=x.device, dtype=torch.bool).reshape(-1, *([1] * (x.ndim - 1)))
    return torch.where(drop, null.to(x.dtype).expand_as(x), x)


class NullCondition(nn.Module):
    """A learned null condition of shape ``shape`` (per row) for classifier-free guidance.

    ``forward(cond, drop)`` returns ``cond`` (batch, *shape) with the rows where ``drop`` is True
    replaced by the learned null; ``drop=None`` returns ``cond`` unchanged.
    """

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.null = nn.Parameter(torch.zeros(*shape))
        nn.init.normal_(self.null, std=0.02)

    def forward(self, cond: torch.Tensor, drop: Optional[torch.Tensor] = None) -> torch.Tensor:
        return apply_drop(cond, self.null.unsqueeze(0), drop)


def resample_length(x: torch.Tensor, length: int) -> torch.Tensor:
    """Linear interpolation of ``x`` (batch, L, F) along time to ``(batch, length, F)`` (identity if equal)."""
    if x.shape[1] == length:
        return x
    if x.shape[1] == 0 or x.shape[2] == 0:
        return x.new_zeros(x.shape[0], length, x.shape[2])
    if x.shape[1] == 1:
        return x.expand(x.shape[0], length, x.shape[2])
    return F.interpolate(x.transpose(1, 2), size=length, mode="linear", align_corners=True).transpose(1, 2)


def nonempty(x: torch.Tensor) -> torch.Tensor:
    """``x`` (batch, L, F), or zeros of one step / one feature where ``L`` / ``F`` is 0."""
    if x.shape[-1] == 0:
        x = x.new_zeros(*x.shape[:-1], 1)
    if x.shape[1] == 0:
        x = x.new_zeros(x.shape[0], 1, x.shape[2])
    return x


class ContextEncoder(nn.Module):
    """RNN over the history: ``(batch, context_length, context_dim)`` -> per-step states
    ``(batch, context_length, hidden)`` and a summary ``(batch, hidden)`` (last hidden state of the top layer).
    An empty history (no steps or no features) reads as one step of zeros."""

    def __init__(
        self, context_dim: int, hidden: int, num_layers: int = 1, cell: Literal["gru", "lstm"] = "gru"
    ) -> None:
        super().__init__()
        self.proj = nn.Linear(max(context_dim, 1), hidden)
        self.rnn = RNN_CELLS[cell](hidden, hidden, num_layers=num_layers, batch_first=True)
        self.context_dim = context_dim

    def forward(self, context: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        states, h = self.rnn(self.proj(nonempty(context)))
        return states, (h[0] if isinstance(h, tuple) else h)[-1]  # an LSTM's state is (h, c)


def future_or_empty(
    future_features: Optional[torch.Tensor], batch: int, length: int, like: torch.Tensor
) -> torch.Tensor:
    """``future_features`` or an empty ``(batch, length, 0)`` tensor when None."""
    if future_features is None:
        return like.new_zeros(batch, length, 0)
    return future_features


def summary_with_future(
    summary: torch.Tensor, future_features: Optional[torch.Tensor], length: int, prediction_length: int
) -> torch.Tensor:
    """A history summary ``(batch, hidden)`` broadcast over ``length`` positions and concatenated with the
    future features ``(batch, prediction_length, future_dim)`` resampled to ``length`` ->
    ``(batch, length, hidden + future_dim)``."""
    batch = summary.shape[0]
    future = resample_length(future_or_empty(future_features, batch, prediction_length, summary), length)
    return torch.cat([summary.unsqueeze(1).expand(batch, length, summary.shape[-1]), future.to(summary)], -1)


def check_at_least(minimum: int, **values: float) -> None:
    """Raise ``ValueError`` naming the first of ``values`` that is not an integer of at least ``minimum``."""
    for name, value in values.items():
        check_int(name, value, minimum)


def check_kernel_size(kernel_size: int) -> None:
    if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")


def check_dropout(dropout: float) -> None:
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
