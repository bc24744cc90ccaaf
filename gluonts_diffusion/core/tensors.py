"""Shape helpers shared by every component. Diffused tensors are ``(batch, length, channels)``."""

import torch


def expand_t(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast per-sample values ``(batch,)`` against ``like`` ``(batch, ...)``."""
    values = torch.as_tensor(values, dtype=like.dtype, device=like.device)
    if values.ndim == 0:
        values = values.expand(like.shape[0])
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1)))


def full_t(value: float, batch: int, like: torch.Tensor) -> torch.Tensor:
    """A time vector ``(batch,)`` filled with ``value`` on ``like``'s device and dtype."""
    return torch.full((batch,), float(value), dtype=like.dtype, device=like.device)
