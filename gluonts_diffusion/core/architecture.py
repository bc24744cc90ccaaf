"""``BaseArchitecture``: the interface of the architecture component kind (conventions in :mod:`gluonts_diffusion.core.base`).

An architecture follows GluonTS's ``DistributionOutput`` pattern: its constructor takes only its
hyper-parameters (so the registry builds and checks it like any other component), and
:meth:`BaseArchitecture.build` creates the layers later, from the :class:`ArchitectureShapes` the model knows.
"""

from __future__ import annotations

import types
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, List, Optional

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .component import Component


@dataclass(frozen=True)
class ArchitectureShapes:
    """The shapes a denoiser serves, set by the model from the data.

    Args:
        length, channels: shape of the diffused object ``(batch, length, channels)``.
        context_length: time steps of history.
        context_dim: features per history step (scaled target, observed mask, lags, time features...).
        future_dim: known features per step of the prediction window (time features, age).
        prediction_length: steps of the prediction window (the future features' length).
    """

    length: int
    channels: int
    context_length: int
    context_dim: int
    future_dim: int
    prediction_length: int


class BaseArchitecture(Component, nn.Module):
    """A denoiser network ``f(x_t, t, cond) -> (batch, length, channels)``.

    ``__init__`` takes the hyper-parameters (and validates them); :meth:`build` creates the layers for the
    shapes it serves. ``encode`` turns the history into a conditioning object once per series, and
    ``forward`` is called at every diffusion step with that object.
    """

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self._shapes: Optional[ArchitectureShapes] = None

    @property
    def shapes(self) -> ArchitectureShapes:
        """The shapes given to :meth:`build` (raises before)."""
        if self._shapes is None:
            raise RuntimeError(f"{type(self).__name__} is not built yet: call build(shapes) first")
        return self._shapes

    def build(self, shapes: ArchitectureShapes) -> BaseArchitecture:
        """Create the layers for ``shapes`` (once); returns the architecture itself."""
        if self._shapes is not None:
            raise RuntimeError(f"{type(self).__name__} is already built")
        self._shapes = shapes
        self.create_layers(shapes)
        return self

    @abstractmethod
    def create_layers(self, shapes: ArchitectureShapes) -> None:
        """Create the network's modules and parameters for ``shapes`` (called once, by :meth:`build`)."""

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

    def training_callbacks(self) -> List[Any]:
        """Lightning callbacks the architecture needs while training (default: none)."""
        return []

    # ------------------------------------------------------------------ gradient checkpointing
    def checkpoint_modules(self) -> List[nn.Module]:
        """The modules :meth:`enable_gradient_checkpointing` wraps. By default every composite element (one
        with submodules) of every ``nn.ModuleList`` inside the architecture -- the repeated blocks/layers of
        the usual designs (transformer denoiser blocks and encoder layers, DiffWave residual blocks, hybrid
        conv/attention layers). Nested architectures (ensemble members) contribute their own
        ``checkpoint_modules()``, they are not wrapped whole. Override to choose other modules."""
        blocks: List[nn.Module] = []

        def visit(module: nn.Module) -> None:
            for child in module.children():
                if isinstance(child, BaseArchitecture):
                    blocks.extend(child.checkpoint_modules())
                elif isinstance(child, nn.ModuleList):
                    for element in child:
                        if isinstance(element, BaseArchitecture):
                            blocks.extend(element.checkpoint_modules())
                        elif any(True for _ in element.children()):
                            blocks.append(element)  # a block: wrapped whole, not searched further
                        else:
                            visit(element)
                else:
                    visit(child)

        visit(self)
        return blocks

    def enable_gradient_checkpointing(self) -> List[nn.Module]:
        """Run :meth:`checkpoint_modules` under activation checkpointing when training; returns them.

        The parameters and the ``state_dict`` are unchanged (each module's instance ``forward`` is replaced,
        which also survives ``copy.deepcopy``), so a model trained with checkpointing loads without it and
        vice versa. Activation memory drops to about one block's worth per block, at the price of a second
        forward pass of each block in the backward pass.
        """
        blocks = self.checkpoint_modules()
        for block in blocks:
            block.forward = types.MethodType(_checkpointed_forward, block)
        return blocks


def _checkpointed_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """The class's ``forward``, run under :func:`torch.utils.checkpoint.checkpoint` while training with
    gradients: activations are not stored but recomputed in the backward pass (same values, same
    gradients; the RNG state is replayed, so dropout masks agree)."""
    forward = type(self).forward.__get__(self)
    if self.training and torch.is_grad_enabled():
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)
    return forward(*args, **kwargs)
