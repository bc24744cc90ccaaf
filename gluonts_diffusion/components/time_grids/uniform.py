"""``uniform``: times equally spaced in ``t`` (Song et al., 2021)."""

import torch

from gluonts_diffusion.core.base import BaseSDE, BaseTimeGrid
from gluonts_diffusion.core.registry import Registry


@Registry.register("time_grid", "uniform")
class UniformTimeGrid(BaseTimeGrid):
    """``t_i = 1 - (1 - eps) i / n`` for ``i = 0..n``."""

    def __call__(self, sde: BaseSDE, num_steps: int) -> torch.Tensor:
        u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
        return 1.0 - (1.0 - sde.eps) * u
