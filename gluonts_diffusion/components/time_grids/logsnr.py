"""``logsnr``: times equally spaced in log-SNR (Lu et al., 2022, DPM-Solver's default)."""

import torch

from gluonts_diffusion.core.base import BaseSDE, BaseTimeGrid
from gluonts_diffusion.core.registry import Registry


@Registry.register("time_grid", "logsnr")
class LogSNRTimeGrid(BaseTimeGrid):
    """``lambda(t_i)`` uniform between ``lambda(1)`` and ``lambda(eps)``, inverted by ``sde.t_from_log_snr``.

    For paths with ``alpha = 1`` (VE) this is geometric in ``sigma``, close to Karras et al.'s (2022)
    schedule. The end points are set exactly to ``1`` and ``eps``.
    """

    compatibility = "needs an SDE whose log-SNR strictly decreases on [eps, 1]"

    def __call__(self, sde: BaseSDE, num_steps: int) -> torch.Tensor:
        u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
        lo, hi = sde.log_snr_range()
        ts = sde.t_from_log_snr(lo + (hi - lo) * u)
        ts[0], ts[-1] = 1.0, sde.eps
        return ts
