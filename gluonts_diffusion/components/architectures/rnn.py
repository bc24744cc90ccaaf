"""``rnn``: a (bidirectional) LSTM/GRU denoiser over the prediction window, conditioned on an RNN encoding of the history."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gluonts_diffusion.core.base import BaseArchitecture
from gluonts_diffusion.core.registry import Registry

from ._layers import NullCondition, SinusoidalTimeEmbedding, future_or_empty, resample_length

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


@Registry.register("architecture", "rnn")
class RNNArchitecture(BaseArchitecture):
    """Recurrent denoiser in the spirit of TimeGrad's RNN conditioning (Rasul et al., 2021) and of
    bidirectional RNN score networks for imputation (e.g. CSDI's baselines).

    ``encode``: an RNN (same ``cell``) reads the history ``(batch, context_length, context_dim)``; its last
    hidden state is broadcast over the ``length`` positions and concatenated with the future features
    resampled from ``prediction_length`` to ``length`` -> ``(batch, length, hidden_size)``; dropped rows
    get a learned null vector. ``forward``: per position ``[proj(x_t), t_emb, cond]`` -> a
    ``num_layers`` RNN, bidirectional over the diffused window if ``bidirectional`` -> linear ->
    ``(batch, length, channels)``.

    Args:
        cell: ``lstm`` or ``gru``.
        hidden_size: RNN width.
        num_layers: layers of the window RNN (the history RNN has one).
        bidirectional: read the diffused window in both directions.
        dropout: between RNN layers.
    """

    def __init__(
        self,
        length: int,
        channels: int,
        context_length: int,
        context_dim: int,
        future_dim: int,
        prediction_length: Optional[int] = None,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(length, channels, context_length, context_dim, future_dim, prediction_length)
        if cell not in CELLS:
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if int(hidden_size) < 2:
            raise ValueError(f"hidden_size must be >= 2, got {hidden_size!r}")
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        rnn_cls = CELLS[cell]
        hidden = int(hidden_size)
        self.cell = cell
        self.history_proj = nn.Linear(max(context_dim, 1), hidden)
        self.history_rnn = rnn_cls(hidden, hidden, batch_first=True)
        self.cond_proj = nn.Linear(hidden + future_dim, hidden)
        self.null = NullCondition(hidden)
        self.input = nn.Linear(channels, hidden)
        self.time_embedding = SinusoidalTimeEmbedding(hidden)
        self.rnn = rnn_cls(
            3 * hidden,
            hidden,
            num_layers=int(num_layers),
            batch_first=True,
            bidirectional=bool(bidirectional),
            dropout=float(dropout) if int(num_layers) > 1 else 0.0,
        )
        self.output = nn.Sequential(
            nn.Linear(hidden * (2 if bidirectional else 1), hidden), nn.SiLU(), nn.Linear(hidden, channels)
        )

    def encode(self, context, future_features, drop=None):
        batch = context.shape[0]
        if context.shape[-1] == 0:
            context = context.new_zeros(*context.shape[:-1], 1)
        _, state = self.history_rnn(self.history_proj(context))
        summary = (state[0] if isinstance(state, tuple) else state)[-1]  # (batch, hidden)
        future = resample_length(future_or_empty(future_features, batch, self.prediction_length, context), self.length)
        seq = torch.cat([summary.unsqueeze(1).expand(batch, self.length, summary.shape[-1]), future.to(summary)], -1)
        return self.null(torch.tanh(self.cond_proj(seq)), drop)  # (batch, length, hidden)

    def checkpoint_modules(self):
        """Gradient checkpointing recomputes the window RNN (its activations dominate the memory)."""
        return [self.rnn]

    def forward(self, x_t, t, cond):
        temb = self.time_embedding(t).unsqueeze(1).expand(-1, x_t.shape[1], -1)
        h, _ = self.rnn(torch.cat([self.input(x_t), temb, cond], dim=-1))
        return self.output(h)
