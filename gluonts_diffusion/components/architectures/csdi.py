"""``csdi``: a two-axis transformer over (time patch, dimension) tokens (Tashiro et al., "CSDI: Conditional
Score-based Diffusion Models for Probabilistic Time Series Imputation", NeurIPS 2021).

Each channel of the diffused window is a dimension with its own tokens, so dependence across the
dimensions of a multivariate target is modelled by attention over the dimension axis (CSDI's feature
transformer), not only by mixing the channels of one token.
"""

from typing import Literal

import torch
from torch import nn

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.registry import Registry

from ._layers import SinusoidalTimeEmbedding
from .transformer import DenoiserBlock, SharedMemory, TransformerArchitecture, num_patches, patchify


@Registry.register("architecture", "csdi")
class CSDIArchitecture(TransformerArchitecture):
    """CSDI's two-axis denoiser, conditioned on the encoded history by cross-attention.

    Tokens: ``x_t`` (batch, length, C) -> one token per (dimension, patch of ``patch_size`` steps),
    ``(batch, C, P, model_dim)`` with P = ceil(length / patch_size): the patch's values projected (one
    projection shared by all dimensions) plus a learned embedding per dimension (row c of
    ``dim_embedding`` (C, model_dim)), a learned embedding per patch, the diffusion-time embedding and the
    known future features of the same patch (when the window is the prediction window).
    Each of ``num_layers`` residual layers: a temporal transformer layer (self-attention over the P patches
    within each dimension, cross-attention to the encoded history, feed-forward) followed by a feature
    transformer layer (self-attention over the C dimensions within each patch, feed-forward); the
    diffusion-time embedding is added before each. Output: (batch, length, C).
    History: the context (batch, context_length, context_dim) -- all dimensions' features flattened per
    step -- and the known future features are encoded as by ``transformer`` (patch tokens, a transformer
    encoder) into a memory (series, M, model_dim) shared by the sample paths of a series; ``drop`` rows
    get the learned null memory (classifier-free guidance).

    Memory per layer grows as O(C P^2) temporal + O(P C^2) feature + O(C P M) cross-attention scores
    per series and head, and O(C P model_dim) activations: linear in C and P for the activations,
    quadratic in each axis for its own attention (``gradient_checkpointing`` keeps one layer's
    activations at a time).

    Args:
        model_dim, num_heads, num_layers, patch_size, dropout: as ``transformer`` (``num_layers`` counts the
            temporal + feature layer pairs and the history encoder's layers; feed-forward width ``4 model_dim``).
        axes: ``time_feature`` (CSDI: attention over time, then over the dimensions) or ``time`` (no
            attention across dimensions: each is denoised on its own, given the shared history). With one
            dimension the feature layers are skipped (attention over one token).
    """

    compatibility = (
        "any preprocessing (each diffused channel is one dimension of tokens; the diffused length may differ "
        "from prediction_length)"
    )

    def __init__(
        self,
        model_dim: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        axes: Literal["time_feature", "time"] = "time_feature",
        patch_size: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(model_dim, num_heads, num_layers, dropout=dropout, patch_size=patch_size)
        if axes not in ("time_feature", "time"):
            raise ValueError(f"axes must be 'time_feature' or 'time', got {axes!r}")
        self.axes: Literal["time_feature", "time"] = axes

    def create_layers(self, shapes: ArchitectureShapes) -> None:
        p, d, channels = self.patch_size, self.model_dim, shapes.channels
        self.create_encoder(shapes)
        self.x_in = nn.Linear(p, d)
        self.dim_embedding = nn.Parameter(torch.randn(channels, d) * 0.02)
        self.x_pos = nn.Parameter(torch.randn(num_patches(shapes.length, p), d) * 0.02)
        self.time_embedding = SinusoidalTimeEmbedding(d)
        across = self.axes == "time_feature" and channels > 1
        self.layers = nn.ModuleList(
            CSDILayer(d, self.num_heads, self.dim_feedforward, self.dropout, across) for _ in range(self.num_layers)
        )
        self.out_norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, p)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x_t, t, cond):
        if isinstance(cond, torch.Tensor):  # a plain (batch, M, d) memory
            cond = SharedMemory(cond, 1)
        batch, length, channels = x_t.shape
        per_dim = patchify(x_t.transpose(1, 2).reshape(batch * channels, length, 1), self.patch_size)
        h = self.x_in(per_dim).reshape(batch, channels, -1, self.model_dim)  # (batch, C, P, d)
        temb = self.time_embedding(t)
        h = h + self.dim_embedding[:, None, :] + self.x_pos
        if cond.aligned is not None:  # (batch, P, d): the same step's known features, for every dimension
            h = h + cond.aligned[:, None]
        memory = SharedMemory(cond.memory, cond.repeats * channels)  # the C dimensions query one series' memory
        for layer in self.layers:
            h = layer(h, temb, memory)
        out = self.out(self.out_norm(h))  # (batch, C, P, p)
        return out.reshape(batch, channels, -1)[:, :, :length].transpose(1, 2)


class CSDILayer(nn.Module):
    """One residual layer on ``h`` (batch, C, P, d): the time embedding ``temb`` (batch, d) added, a temporal
    block over P per dimension (with cross-attention to the memory), then (``across``) a feature block over C
    per patch. The temporal block folds the C dimensions and the sample paths of a series into one query
    sequence for the cross-attention, so the memory's keys and values are computed once per series."""

    def __init__(self, d: int, heads: int, ff: int, dropout: float, across: bool) -> None:
        super().__init__()
        self.time_proj = nn.Linear(d, d)
        self.temporal = DenoiserBlock(d, heads, ff, dropout, cross_attention=True)
        self.feature = (
            nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=True, activation="gelu")
            if across
            else None
        )

    def forward(self, h: torch.Tensor, temb: torch.Tensor, memory: SharedMemory) -> torch.Tensor:
        """``memory``: the condition's memory shared by the ``C x repeats`` rows of each series."""
        batch, channels, patches, d = h.shape
        h = h + self.time_proj(temb)[:, None, None, :]
        h = self.temporal(h.reshape(batch * channels, patches, d), memory).reshape(batch, channels, patches, d)
        if self.feature is None:
            return h
        across = self.feature(h.transpose(1, 2).reshape(batch * patches, channels, d))
        return across.reshape(batch, patches, channels, d).transpose(1, 2)
