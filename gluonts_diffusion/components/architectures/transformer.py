"""``transformer``: an encoder over the history, a denoiser over the diffused window.

The history tokens (scaled target, observed mask, lags, time features) and the known future tokens
(time features, seasonal lags) are encoded once per series; the noisy window is denoised by a
transformer whose tokens see the diffusion time and attend to that encoding (cross-attention), or
receive it concatenated (``conditioning: concat``), in the spirit of CSDI / TSDiff-Cond.
"""

from typing import Literal, NamedTuple, Optional

import torch
from torch import nn

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.base import BaseArchitecture
from gluonts_diffusion.core.registry import Registry

from ._layers import SinusoidalTimeEmbedding, apply_drop, check_at_least


@Registry.register("architecture", "transformer")
class TransformerArchitecture(BaseArchitecture):
    """Transformer denoiser conditioned on diffusion time and the encoded context.

    Args:
        model_dim: token width.
        num_heads: attention heads.
        num_layers: denoiser layers (the context encoder has ``num_encoder_layers``, default the same).
        dim_feedforward: feed-forward width (default ``4 * model_dim``).
        dropout: dropout inside the transformer layers.
        conditioning: ``cross_attention`` (denoiser tokens attend to the encoded history) or ``concat``
            (the pooled encoding is concatenated to every denoiser token).
        patch_size: time steps per token, for the window and the history alike (PatchTST, Nie et al.
            2023); 1 gives one token per step. Patching cuts the sampling cost by about this factor.
    Shapes: ``x_t`` (batch, length, channels) -> (batch, length, channels).
    """

    compatibility = "any preprocessing (the diffused length may differ from prediction_length)"

    def __init__(
        self,
        model_dim: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        num_encoder_layers: Optional[int] = None,
        dim_feedforward: Optional[int] = None,
        dropout: float = 0.1,
        conditioning: Literal["cross_attention", "concat"] = "cross_attention",
        patch_size: int = 4,
    ) -> None:
        super().__init__()
        if conditioning not in ("cross_attention", "concat"):
            raise ValueError(f"conditioning must be 'cross_attention' or 'concat', got {conditioning!r}")
        check_at_least(1, model_dim=model_dim, num_heads=num_heads, num_layers=num_layers)
        if model_dim % num_heads:
            raise ValueError(f"model_dim ({model_dim}) must be divisible by num_heads ({num_heads})")
        check_at_least(1, patch_size=patch_size)
        self.conditioning: Literal["cross_attention", "concat"] = conditioning
        self.patch_size = int(patch_size)
        self.model_dim, self.num_heads, self.num_layers = int(model_dim), int(num_heads), int(num_layers)
        self.num_encoder_layers = num_encoder_layers or num_layers
        self.dim_feedforward, self.dropout = dim_feedforward or 4 * model_dim, dropout

    def create_layers(self, shapes: ArchitectureShapes) -> None:
        p, d, ff, heads, dropout = self.patch_size, self.model_dim, self.dim_feedforward, self.num_heads, self.dropout
        self.create_encoder(shapes)
        self.x_in = nn.Linear(shapes.channels * p, d)
        # concat conditioning: [x_t, pooled encoding] @ W  ==  x_t @ W_x + pooled @ W_c
        self.cond_proj = nn.Linear(d, d, bias=False) if self.conditioning == "concat" else None
        self.x_pos = nn.Parameter(torch.randn(num_patches(shapes.length, p), d) * 0.02)
        self.time_embedding = SinusoidalTimeEmbedding(d)
        self.blocks = nn.ModuleList(
            DenoiserBlock(d, heads, ff, dropout, cross_attention=self.conditioning == "cross_attention")
            for _ in range(self.num_layers)
        )
        self.out_norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, shapes.channels * p)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def create_encoder(self, shapes: ArchitectureShapes) -> None:
        """The history encoder that :meth:`encode` runs: history and known future tokens -> memory, plus the
        future features aligned with the window's patches (when the window is the prediction window)."""
        p, d, ff, heads, dropout = self.patch_size, self.model_dim, self.dim_feedforward, self.num_heads, self.dropout
        future_dim, prediction_length = shapes.future_dim, shapes.prediction_length
        self.context_in = nn.Linear(shapes.context_dim * p, d)
        self.future_in = nn.Linear(future_dim * p, d) if future_dim else None
        cond_len = num_patches(shapes.context_length, p) + (num_patches(prediction_length, p) if future_dim else 0)
        self.cond_pos = nn.Parameter(torch.randn(cond_len, d) * 0.02)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=True, activation="gelu"),
            self.num_encoder_layers,
            enable_nested_tensor=False,
        )
        self.null_memory = nn.Parameter(torch.zeros(1, 1, d))
        # known future features (seasonal lags, calendar) added to the denoiser token of the same step
        self.aligned = future_dim > 0 and shapes.length == prediction_length
        self.future_aligned = nn.Linear(future_dim * p, d) if self.aligned else None

    def encode(self, context, future_features, drop=None):
        tokens = self.context_in(patchify(context, self.patch_size, pad_front=True))
        aligned = None
        if self.future_in is not None:
            patches = patchify(future_features, self.patch_size)
            tokens = torch.cat([tokens, self.future_in(patches)], dim=1)
            if self.future_aligned is not None:  # (the diffused window is the prediction window)
                aligned = apply_drop(self.future_aligned(patches), self.null_memory, drop)
        memory = self.encoder(tokens + self.cond_pos)
        return SharedMemory(apply_drop(memory, self.null_memory, drop), 1, aligned)

    @staticmethod
    def repeat_condition(cond: "SharedMemory", repeats: int) -> "SharedMemory":
        # the sample paths of one series share its memory: it is never copied
        aligned = None if cond.aligned is None else cond.aligned.repeat_interleave(repeats, 0)
        return SharedMemory(cond.memory, cond.repeats * repeats, aligned)

    def forward(self, x_t, t, cond):
        if isinstance(cond, torch.Tensor):  # a plain (batch, M, d) memory
            cond = SharedMemory(cond, 1)
        h = self.x_in(patchify(x_t, self.patch_size))
        if self.cond_proj is not None:  # concat conditioning
            pooled = cond.memory.mean(1, keepdim=True).repeat_interleave(cond.repeats, 0)
            h = h + self.cond_proj(pooled)
        h = h + self.x_pos + self.time_embedding(t)[:, None, :]
        if cond.aligned is not None:
            h = h + cond.aligned
        for block in self.blocks:
            h = block(h, cond)
        out = self.out(self.out_norm(h))  # (rows, patches, p * channels)
        return out.reshape(out.shape[0], -1, self.shapes.channels)[:, : x_t.shape[1]]


def num_patches(length: int, patch_size: int) -> int:
    return -(-length // patch_size)


def patchify(x: torch.Tensor, patch_size: int, pad_front: bool = False) -> torch.Tensor:
    """(batch, length, F) -> (batch, ceil(length / p), p * F), zero-padding the end (or the front)."""
    pad = num_patches(x.shape[1], patch_size) * patch_size - x.shape[1]
    if pad:
        zeros = x.new_zeros(x.shape[0], pad, x.shape[2])
        x = torch.cat([zeros, x] if pad_front else [x, zeros], dim=1)
    return x.reshape(x.shape[0], -1, patch_size * x.shape[2])


class SharedMemory(NamedTuple):
    """Encoded history ``memory`` (series, M, d) shared by ``repeats`` consecutive rows of the denoiser
    batch, and the embedded known future features ``aligned`` (rows, patches, d), one per row."""

    memory: torch.Tensor
    repeats: int
    aligned: Optional[torch.Tensor] = None


class DenoiserBlock(nn.Module):
    """Pre-norm block: self-attention over the window, cross-attention to the shared memory, feed-forward.

    The cross-attention folds the ``repeats`` sample paths of a series into one query sequence
    ``(series, repeats * length, d)``, so keys and values are computed once per series, not per path.
    """

    def __init__(self, d: int, heads: int, ff: int, dropout: float, cross_attention: bool = True) -> None:
        super().__init__()
        self.norm1, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d) if cross_attention else None
        self.cross_attn = (
            nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True) if cross_attention else None
        )
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, cond: SharedMemory) -> torch.Tensor:
        y = self.norm1(h)
        h = h + self.dropout(self.self_attn(y, y, y, need_weights=False)[0])
        if self.cross_attn is not None and self.norm2 is not None:
            rows, length, d = h.shape
            q = self.norm2(h).reshape(rows // cond.repeats, cond.repeats * length, d)
            attended = self.cross_attn(q, cond.memory, cond.memory, need_weights=False)[0]
            h = h + self.dropout(attended.reshape(rows, length, d))
        return h + self.dropout(self.ff(self.norm3(h)))
