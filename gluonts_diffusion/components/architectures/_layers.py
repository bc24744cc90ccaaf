"""Building blocks shared by the architectures (not a component: underscore files are not registered).

* :class:`SinusoidalTimeEmbedding` -- diffusion time ``t`` (batch,) in [0, 1] -> (batch, dim)
  (sinusoids of ``1000 t`` as in DDPM / DiffWave, then a two-layer SiLU MLP);
* :class:`NullCondition` -- a learned null vector replacing the condition of dropped rows
  (classifier-free guidance, Ho & Salimans, 2022);
* :func:`resample_length` -- linear interpolation of a ``(batch, L, F)`` sequence to another length;
* :class:`ContextEncoder` -- GRU over the history ``(batch, context_length, context_dim)`` giving
  per-step states and a summary vector;
* :func:`apply_drop` -- replace rows of a tensor by a null tensor where ``drop`` is True;
* :func:`enable_gradient_checkpointing` -- recompute an architecture's blocks in the backward pass.
"""

from __future__ import annotations

import math
import types
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint


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
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


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


class ContextEncoder(nn.Module):
    """GRU over the history: ``(batch, context_length, context_dim)`` -> per-step states
    ``(batch, context_length, hidden)`` and a summary ``(batch, hidden)`` (last hidden state)."""

    def __init__(self, context_dim: int, hidden: int, num_layers: int = 1) -> None:
        super().__init__()
        self.proj = nn.Linear(max(context_dim, 1), hidden)
        self.rnn = nn.GRU(hidden, hidden, num_layers=num_layers, batch_first=True)
        self.context_dim = context_dim

    def forward(self, context: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if context.shape[-1] == 0:
            context = context.new_zeros(*context.shape[:-1], 1)
        if context.shape[1] == 0:
            context = context.new_zeros(context.shape[0], 1, context.shape[2])
        states, h = self.rnn(self.proj(context))
        return states, h[-1]


def future_or_empty(
    future_features: Optional[torch.Tensor], batch: int, length: int, like: torch.Tensor
) -> torch.Tensor:
    """``future_features`` or an empty ``(batch, length, 0)`` tensor when None."""
    if future_features is None:
        return like.new_zeros(batch, length, 0)
    return future_features


# --------------------------------------------------------------------------- gradient checkpointing
def _checkpointed_forward(self: nn.Module, *args, **kwargs):
    """The class's ``forward``, run under :func:`torch.utils.checkpoint.checkpoint` while training with
    gradients: activations are not stored but recomputed in the backward pass (same values, same
    gradients; the RNG state is replayed, so dropout masks agree)."""
    forward = type(self).forward.__get__(self)
    if self.training and torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)


def checkpoint_blocks(architecture: nn.Module) -> List[nn.Module]:
    """The modules :func:`enable_gradient_checkpointing` wraps: those an architecture lists in its
    ``checkpoint_modules()`` method if it has one, else every composite element (one with submodules)
    of every ``nn.ModuleList`` inside it -- the repeated blocks/layers of the usual designs (transformer
    denoiser blocks and encoder layers, DiffWave residual blocks, hybrid conv/attention layers).
    Nested architectures (ensemble members) are searched in turn, not wrapped whole."""
    from gluonts_diffusion.core.base import BaseArchitecture

    custom = getattr(architecture, "checkpoint_modules", None)
    if callable(custom):
        return list(custom())
    blocks: List[nn.Module] = []

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if isinstance(child, BaseArchitecture):
                blocks.extend(checkpoint_blocks(child))
            elif isinstance(child, nn.ModuleList):
                for element in child:
                    if isinstance(element, BaseArchitecture):
                        blocks.extend(checkpoint_blocks(element))
                    elif any(True for _ in element.children()):
                        blocks.append(element)  # a block: wrapped whole, not searched further
                    else:
                        visit(element)
            else:
                visit(child)

    visit(architecture)
    return blocks


def enable_gradient_checkpointing(architecture: nn.Module) -> List[nn.Module]:
    """Run the blocks of ``architecture`` (see :func:`checkpoint_blocks`) under activation checkpointing
    when training; returns the wrapped blocks. The parameters and the ``state_dict`` are unchanged (the
    instance's ``forward`` is replaced, which also survives ``copy.deepcopy``), so a model trained with
    checkpointing loads without it and vice versa. Memory for activations drops to about one block's
    worth per block, at the price of a second forward pass of each block in the backward pass."""
    blocks = checkpoint_blocks(architecture)
    for block in blocks:
        block.forward = types.MethodType(_checkpointed_forward, block)
    return blocks
