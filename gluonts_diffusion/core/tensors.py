"""Tensor helpers shared by every component. Diffused tensors are ``(batch, length, channels)``."""

from __future__ import annotations

from typing import Callable, Optional, Union

import torch


def expand_t(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast per-sample values ``(batch,)`` against ``like`` ``(batch, ...)``."""
    values = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    if values.ndim == 0:
        values = values.expand(like.shape[0])
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1)))


def full_t(value: Union[float, torch.Tensor], batch: int, like: torch.Tensor) -> torch.Tensor:
    """A time vector ``(batch,)`` filled with ``value`` (a number or 0-d tensor) on ``like``'s device and dtype."""
    return torch.full((batch,), float(value), dtype=like.dtype, device=like.device)


def time_derivative(
    fn: Callable[[torch.Tensor], torch.Tensor],
    t: torch.Tensor,
    dtype: Optional[torch.dtype] = None,
    device: Optional[torch.device | str] = None,
) -> torch.Tensor:
    """``d fn / dt`` at ``t`` (batch,) by autograd, for a ``fn`` acting elementwise on time.

    Evaluated at ``t`` cast to ``dtype`` / moved to ``device`` when given (e.g. float64 on the CPU for
    user functions), and returned with ``t``'s dtype and device; a ``fn`` that does not depend on
    ``t`` has derivative 0.
    """
    with torch.enable_grad():
        tt = t.detach().to(device=device, dtype=dtype).clone().requires_grad_(True)
        out = fn(tt)
        if not out.requires_grad:  # a constant
            return torch.zeros_like(t)
        (grad,) = torch.autograd.grad(out.sum(), tt, allow_unused=True)
    if grad is None:
        return torch.zeros_like(t)
    return grad.to(device=t.device, dtype=t.dtype)
