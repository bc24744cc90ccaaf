"""``cnn``: dilated residual 1-D convolutions (DiffWave / WaveNet), the denoiser of TimeGrad and SSSD."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from gluonts_diffusion.core.base import BaseArchitecture
from gluonts_diffusion.core.registry import Registry

from ._layers import ContextEncoder, NullCondition, SinusoidalTimeEmbedding, future_or_empty, resample_length


class _ResidualBlock(nn.Module):
    """DiffWave block: ``h + t_emb`` -> dilated conv + conditioner -> ``tanh * sigmoid`` -> residual, skip."""

    def __init__(self, residual: int, cond_dim: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.time = nn.Linear(residual, residual)
        self.conv = nn.Conv1d(
            residual, 2 * residual, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2
        )
        self.cond = nn.Conv1d(cond_dim, 2 * residual, 1)
        self.out = nn.Conv1d(residual, 2 * residual, 1)

    def forward(self, h, temb, cond):
        y = self.conv(h + self.time(temb).unsqueeze(-1)) + self.cond(cond)
        gate, filt = y.chunk(2, dim=1)
        y = self.out(torch.sigmoid(gate) * torch.tanh(filt))
        residual, skip = y.chunk(2, dim=1)
        return (h + residual) / math.sqrt(2.0), skip


@Registry.register("architecture", "cnn")
class CNNArchitecture(BaseArchitecture):
    """Stack of gated dilated residual convolutions (Kong et al., "DiffWave", 2021) as used for time
    series by TimeGrad (Rasul et al., 2021) and SSSD (Alcaraz & Strodthoff, 2022).

    ``encode``: a GRU summarises the history ``(batch, context_length, context_dim)`` into a vector
    that is broadcast over the ``length`` diffused positions and concatenated with the future features
    linearly resampled from ``prediction_length`` to ``length``; a 1x1 convolution gives the
    conditioning sequence ``(batch, length, cond_dim)``. Dropped rows get a learned null vector at
    every position. ``forward``: ``x_t (batch, length, channels)`` -> 1x1 conv -> ``num_layers`` blocks
    with dilations ``2**(i % dilation_cycle)``, each adding the diffusion-time embedding and the
    conditioner -> sum of skips -> output ``(batch, length, channels)``.

    Args:
        residual_channels: width of the residual stream.
        num_layers: residual blocks.
        dilation_cycle: dilations cycle through ``1, 2, ..., 2**(dilation_cycle - 1)``.
        kernel_size: odd convolution width.
        hidden_size: GRU width of the history encoder and conditioning channels.
    """

    def __init__(
        self,
        length: int,
        channels: int,
        context_length: int,
        context_dim: int,
        future_dim: int,
        prediction_length: Optional[int] = None,
        residual_channels: int = 64,
        num_layers: int = 8,
        dilation_cycle: int = 4,
        kernel_size: int = 3,
        hidden_size: int = 64,
    ) -> None:
        super().__init__(length, channels, context_length, context_dim, future_dim, prediction_length)
        for name, value in [
            ("residual_channels", residual_channels),
            ("num_layers", num_layers),
            ("dilation_cycle", dilation_cycle),
            ("hidden_size", hidden_size),
        ]:
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        self.context_encoder = ContextEncoder(context_dim, hidden_size)
        self.cond_proj = nn.Conv1d(hidden_size + future_dim, hidden_size, 1)
        self.null = NullCondition(hidden_size)
        self.input = nn.Conv1d(channels, residual_channels, 1)
        self.time_embedding = SinusoidalTimeEmbedding(residual_channels)
        self.blocks = nn.ModuleList(
            _ResidualBlock(residual_channels, hidden_size, int(kernel_size), 2 ** (i % int(dilation_cycle)))
            for i in range(int(num_layers))
        )
        self.skip = nn.Conv1d(residual_channels, residual_channels, 1)
        self.output = nn.Conv1d(residual_channels, channels, 1)

    def encode(self, context, future_features, drop=None):
        batch = context.shape[0]
        _, summary = self.context_encoder(context)
        future = resample_length(future_or_empty(future_features, batch, self.prediction_length, context), self.length)
        seq = torch.cat([summary.unsqueeze(1).expand(batch, self.length, summary.shape[-1]), future.to(summary)], -1)
        cond = F.silu(self.cond_proj(seq.transpose(1, 2))).transpose(1, 2)
        return self.null(cond, drop)  # (batch, length, hidden)

    def forward(self, x_t, t, cond):
        h = F.relu(self.input(x_t.transpose(1, 2)))
        temb = self.time_embedding(t)
        c = cond.transpose(1, 2)
        skips = 0.0
        for block in self.blocks:
            h, skip = block(h, temb, c)
            skips = skips + skip
        out = F.relu(self.skip(skips / math.sqrt(len(self.blocks))))
        return self.output(out).transpose(1, 2)
