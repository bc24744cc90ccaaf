"""``rnn``: a (bidirectional) LSTM/GRU denoiser over the prediction window, conditioned on an RNN encoding of the history."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.base import BaseArchitecture
from gluonts_diffusion.core.registry import Registry

from ._layers import (
    RNN_CELLS,
    ContextEncoder,
    NullCondition,
    SinusoidalTimeEmbedding,
    check_at_least,
    check_dropout,
    summary_with_future,
)


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
        cell: Literal["lstm", "gru"] = "lstm",
        hidden_size: int = 64,
        num_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in RNN_CELLS:
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        check_at_least(2, hidden_size=hidden_size)
        check_at_least(1, num_layers=num_layers)
        check_dropout(dropout)
        self.cell: Literal["lstm", "gru"] = cell
        self.hidden_size, self.num_layers = int(hidden_size), int(num_layers)
        self.bidirectional, self.dropout = bool(bidirectional), float(dropout)

    def create_layers(self, shapes: ArchitectureShapes) -> None:
        hidden = self.hidden_size
        self.history = ContextEncoder(shapes.context_dim, hidden, cell=self.cell)
        self.cond_proj = nn.Linear(hidden + shapes.future_dim, hidden)
        self.null = NullCondition(hidden)
        self.input = nn.Linear(shapes.channels, hidden)
        self.time_embedding = SinusoidalTimeEmbedding(hidden)
        self.rnn = RNN_CELLS[self.cell](
            3 * hidden,
            hidden,
            num_layers=self.num_layers,
            batch_first=True,
            bidirectional=self.bidirectional,
            dropout=self.dropout if self.num_layers > 1 else 0.0,
        )
        self.output = nn.Sequential(
            nn.Linear(hidden * (2 if self.bidirectional else 1), hidden), nn.SiLU(), nn.Linear(hidden, shapes.channels)
        )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # predictors saved before the history encoder was shared name its layers history_proj / history_rnn
        for old, new in (("history_proj.", "history.proj."), ("history_rnn.", "history.rnn.")):
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def encode(self, context, future_features, drop=None):
        _, summary = self.history(context)
        seq = summary_with_future(summary, future_features, self.shapes.length, self.shapes.prediction_length)
        return self.null(torch.tanh(self.cond_proj(seq)), drop)  # (batch, length, hidden)

    def checkpoint_modules(self):
        """Gradient checkpointing recomputes the window RNN (its activations dominate the memory)."""
        return [self.rnn]

    def forward(self, x_t, t, cond):
        temb = self.time_embedding(t).unsqueeze(1).expand(-1, x_t.shape[1], -1)
        h, _ = self.rnn(torch.cat([self.input(x_t), temb, cond], dim=-1))
        return self.output(h)
