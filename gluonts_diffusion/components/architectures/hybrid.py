"""``hybrid``: convolutional front end + self-attention over the window and cross-attention to the history."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.base import BaseArchitecture
from gluonts_diffusion.core.registry import Registry

from ._layers import (
    NullCondition,
    SinusoidalTimeEmbedding,
    check_at_least,
    check_dropout,
    check_kernel_size,
    future_or_empty,
    nonempty,
    resample_length,
)


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Fixed sinusoidal position encodings (Vaswani et al., 2017) ``(length, dim)``."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    enc = torch.zeros(length, dim)
    enc[:, 0::2] = torch.sin(pos * freqs)
    enc[:, 1::2] = torch.cos(pos * freqs[: dim // 2])
    return enc


class _ConvBlock(nn.Module):
    """Pre-norm residual dilated convolution with the diffusion-time embedding added (FiLM-free, additive)."""

    def __init__(self, dim: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, dim)
        self.conv = nn.Conv1d(dim, dim, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)
        self.time = nn.Linear(dim, dim)
        self.out = nn.Conv1d(dim, dim, 1)

    def forward(self, h, temb):
        y = F.silu(self.conv(self.norm(h)) + self.time(temb).unsqueeze(-1))
        return h + self.out(y)


@Registry.register("architecture", "hybrid")
class HybridArchitecture(BaseArchitecture):
    """Convolution + attention denoiser, in the spirit of SSSD/CSDI-style hybrids (Tashiro et al.,
    "CSDI", 2021) and conditional diffusion transformers with cross-attention (Peebles & Xie, 2023).

    ``encode``: the history ``(batch, context_length, context_dim)`` and the future features
    ``(batch, prediction_length, future_dim)`` are projected to ``d_model`` tokens with sinusoidal
    positions (the future tokens positioned after the history) -> memory ``(batch, context_length +
    prediction_length, d_model)``; the future features resampled to ``length`` also give a per-position
    term ``(batch, length, d_model)``. Dropped rows get learned null memory and null local terms.
    ``forward``: ``x_t`` -> linear + positions + local term -> ``num_conv_layers`` dilated residual
    convolutions (time embedding added) -> ``num_attention_layers`` pre-norm transformer decoder layers
    (self-attention over the window, cross-attention to the memory; the time embedding is added before
    each) -> linear -> ``(batch, length, channels)``.

    Args:
        d_model: width (divisible by ``num_heads``).
        num_heads: attention heads.
        num_conv_layers, num_attention_layers: depths of the two stages.
        kernel_size: odd convolution width.
        dim_feedforward: feed-forward width of the attention layers (default ``4 d_model``).
        dropout: attention / feed-forward dropout.
    """

    def __init__(
        self,
        d_model: int = 64,
        num_heads: int = 4,
        num_conv_layers: int = 2,
        num_attention_layers: int = 2,
        kernel_size: int = 3,
        dim_feedforward: Optional[int] = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_at_least(1, d_model=d_model, num_heads=num_heads)
        if int(num_heads) < 1 or int(d_model) < 2 or int(d_model) % int(num_heads):
            raise ValueError(
                f"d_model must be >= 2 and divisible by num_heads, got d_model={d_model!r}, num_heads={num_heads!r}"
            )
        check_at_least(0, num_conv_layers=num_conv_layers, num_attention_layers=num_attention_layers)
        check_kernel_size(kernel_size)
        check_dropout(dropout)
        self.d_model, self.num_heads, self.kernel_size = int(d_model), int(num_heads), int(kernel_size)
        self.num_conv_layers, self.num_attention_layers = int(num_conv_layers), int(num_attention_layers)
        self.dim_feedforward, self.dropout = dim_feedforward or 4 * self.d_model, float(dropout)

    memory_positions: torch.Tensor
    positions: torch.Tensor

    def create_layers(self, shapes: ArchitectureShapes) -> None:
        d, length = self.d_model, shapes.length
        self.memory_length = max(shapes.context_length, 1) + shapes.prediction_length
        self.context_proj = nn.Linear(max(shapes.context_dim, 1), d)
        self.future_proj = nn.Linear(max(shapes.future_dim, 1), d)
        self.local_proj = nn.Linear(max(shapes.future_dim, 1), d)
        self.register_buffer("memory_positions", sinusoidal_positions(self.memory_length, d), persistent=False)
        self.register_buffer("positions", sinusoidal_positions(length, d), persistent=False)
        self.null_memory = NullCondition(self.memory_length, d)
        self.null_local = NullCondition(length, d)
        self.input = nn.Linear(shapes.channels, d)
        self.time_embedding = SinusoidalTimeEmbedding(d)
        self.convs = nn.ModuleList(_ConvBlock(d, self.kernel_size, 2**i) for i in range(self.num_conv_layers))
        self.time_proj = nn.ModuleList(nn.Linear(d, d) for _ in range(self.num_attention_layers))
        self.attention = nn.ModuleList(
            nn.TransformerDecoderLayer(
                d,
                self.num_heads,
                self.dim_feedforward,
                self.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(self.num_attention_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.output = nn.Linear(d, shapes.channels)

    def encode(self, context, future_features, drop=None):
        batch = context.shape[0]
        future = future_or_empty(future_features, batch, self.shapes.prediction_length, context)
        memory = torch.cat(
            [self.context_proj(nonempty(context)), self.future_proj(nonempty(future).to(context))], dim=1
        )
        memory = memory + self.memory_positions[: memory.shape[1]]
        local = self.local_proj(nonempty(resample_length(future, self.shapes.length)).to(context))
        return {"memory": self.null_memory(memory, drop), "local": self.null_local(local, drop)}

    def forward(self, x_t, t, cond):
        temb = self.time_embedding(t)
        h = self.input(x_t) + self.positions + cond["local"]
        h = h.transpose(1, 2)
        for block in self.convs:
            h = block(h, temb)
        h = h.transpose(1, 2)
        for proj, layer in zip(self.time_proj, self.attention):
            h = layer(h + proj(temb).unsqueeze(1), cond["memory"])
        return self.output(self.norm(h))
