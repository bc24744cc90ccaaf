"""``cnn``: dilated residual 1-D convolutions (DiffWave / WaveNet), the denoiser of TimeGrad and SSSD."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.base import BaseArchitecture
from gluonts_diffusion.core.registry import Registry

from ._layers import (
    ContextEncoder,
    NullCondition,
    SinusoidalTimeEmbedding,
    check_at_least,
    check_kernel_size,
    summary_with_future,
)


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
        residual_channels: int = 64,
        num_layers: int = 8,
        dilation_cycle: int = 4,
        kernel_size: int = 3,
        hidden_size: int = 64,
    ) -> None:
        super().__init__()
        check_at_least(
            1,
            residual_channels=residual_channels,
            num_layers=num_layers,
            dilation_cycle=dilation_cycle,
            hidden_size=hidden_size,
        )
        check_kernel_size(kernel_size)
        self.residual_channels, self.num_layers, self.dilation_cycle = residual_channels, num_layers, dilation_cycle
        self.kernel_size, self.hidden_size = int(kernel_size), hidden_size

    def create_layers(self, shapes: ArchitectureShapes) -> None:
        residual, hidden = self.residual_channels, self.hidden_size
        self.context_encoder = ContextEncoder(shapes.context_dim, hidden)
        self.cond_proj = nn.Conv1d(hidden + shapes.future_dim, hidden, 1)
        self.null = NullCondition(hidden)
        self.input = nn.Conv1d(shapes.channels, residual, 1)
        self.time_embedding = SinusoidalTimeEmbedding(residual)
        self.blocks = nn.ModuleList(
            _ResidualBlock(residual, hidden, self.kernel_size, 2 ** (i % int(self.dilation_cycle)))
            for i in range(int(self.num_layers))
        )
        self.skip = nn.Conv1d(residual, residual, 1)
        self.output = nn.Conv1d(residual, shapes.channels, 1)

    def encode(self, context, future_features, drop=None):
        _, summary = self.context_encoder(context)
        seq = summary_with_future(summary, future_features, self.shapes.length, self.shapes.prediction_length)
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
