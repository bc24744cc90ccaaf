"""Causal (no look-ahead) rolling statistics along time for ``(batch, length, channels)`` tensors.

Every output at step ``t`` depends on inputs at steps ``<= t`` only. Not a component (underscore file).
"""

from __future__ import annotations

import torch


def forward_fill(x: torch.Tensor, observed: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Replace unobserved entries by the last observed value (``fill`` before the first one)."""
    obs = observed.bool()
    steps = torch.arange(x.shape[1], device=x.device).view(1, -1, 1).expand_as(x)
    last = torch.where(obs, steps, torch.full_like(steps, -1)).cummax(dim=1).values
    filled = torch.gather(x, 1, last.clamp_min(0))
    return torch.where(last >= 0, filled, torch.full_like(x, fill))


def _window_sum(x: torch.Tensor, window: int) -> torch.Tensor:
    """Sum over the last ``window`` steps (fewer at the start), via a float64 cumulative sum."""
    c = torch.cumsum(x.to(torch.float64), dim=1)
    shifted = torch.zeros_like(c)
    if window < x.shape[1]:
        shifted[:, window:] = c[:, :-window]
    return c - shifted


def rolling_mean(x: torch.Tensor, window: int, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Causal (weighted) mean over the last ``window`` steps; steps with no weight give 0."""
    if weight is None:
        weight = torch.ones_like(x)
    weight = weight.to(torch.float64)
    num = _window_sum(x.to(torch.float64) * weight, window)
    den = _window_sum(weight, window)
    return (num / den.clamp_min(1e-12)).where(den > 0, torch.zeros_like(num)).to(x.dtype)


def rolling_std(x: torch.Tensor, window: int) -> torch.Tensor:
    """Causal population std over the last ``window`` steps."""
    mean = rolling_mean(x.to(torch.float64), window)
    sq = rolling_mean(x.to(torch.float64) ** 2, window)
    return (sq - mean**2).clamp_min(0).sqrt().to(x.dtype)


def ema(x: torch.Tensor, span: int) -> torch.Tensor:
    """Exponential moving average ``e_t = a x_t + (1 - a) e_{t-1}``, ``e_0 = x_0``, ``a = 2 / (span + 1)``
    (pandas ``ewm(span, adjust=False)``), computed as a lower-triangular matrix product."""
    n = x.shape[1]
    a = 2.0 / (span + 1.0)
    steps = torch.arange(n, device=x.device, dtype=torch.float64)
    lag = steps[:, None] - steps[None, :]
    weights = torch.where(lag >= 0, a * (1 - a) ** lag.clamp_min(0), torch.zeros_like(lag))
    weights[:, 0] = (1 - a) ** steps  # the initial value carries the remaining weight
    return torch.einsum("ts,bsc->btc", weights, x.to(torch.float64)).to(x.dtype)


def difference(x: torch.Tensor) -> torch.Tensor:
    """``x_t - x_{t-1}``, 0 at the first step."""
    d = torch.zeros_like(x)
    d[:, 1:] = x[:, 1:] - x[:, :-1]
    return d
