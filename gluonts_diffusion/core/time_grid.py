"""``BaseTimeGrid``: the interface of the time-grid component kind (conventions in :mod:`gluonts_diffusion.core.base`)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from .component import Component
from .sde import BaseSDE


class BaseTimeGrid(Component, ABC):
    """Where a sampler evaluates the network: a decreasing grid from ``t = 1`` (prior) to ``t = sde.eps`` (data).

    A grid is a value handed to a sampler, as k-diffusion passes a noise schedule (``get_sigmas_karras``)
    to its solvers; samplers name theirs with ``time_grid: <registered name>``.
    """

    @abstractmethod
    def __call__(self, sde: BaseSDE, num_steps: int) -> torch.Tensor:
        """Times ``(num_steps + 1,)`` in float64, strictly decreasing from ``1`` to ``sde.eps``."""
