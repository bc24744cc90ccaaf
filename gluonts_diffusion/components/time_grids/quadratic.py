"""``quadratic``: times denser near the data (the quadratic DDIM schedule of Song, Meng & Ermon, 2021)."""

import torch

from gluonts_diffusion.core.base import BaseSDE, BaseTimeGrid
from gluonts_diffusion.core.registry import Registry


@Registry.register("time_grid", "quadratic")
class QuadraticTimeGrid(BaseTimeGrid):
    """``t_i = eps + (1 - eps) (1 - i / n)^2`` for ``i = 0..n``: steps shrink towards ``t = eps``."""

    def __call__(self, sde: BaseSDE, num_steps: int) -> torch.Tensor:
        u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
        return sde.eps + (1.0 - sde.eps) * (1.0 - u) ** 2
