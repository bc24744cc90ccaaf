"""``karras``: the EDM noise levels of Karras et al. (2022, eq. 5), mapped back to diffusion time."""

import torch

from gluonts_diffusion.core.base import BaseSDE, BaseTimeGrid
from gluonts_diffusion.core.registry import Registry


@Registry.register("time_grid", "karras")
class KarrasTimeGrid(BaseTimeGrid):
    """``s_i = (s_max^(1/rho) + i/n (s_min^(1/rho) - s_max^(1/rho)))^rho`` in ``s = sigma / alpha``.

    ``s_max`` and ``s_min`` are ``sigma / alpha`` at ``t = 1`` and ``t = eps``; each ``s_i`` is mapped
    back to ``t`` with ``sde.t_from_log_snr(-2 log s_i)``. ``rho = 1`` is uniform in ``s``; larger
    ``rho`` spends more steps near the data (``rho -> inf`` tends to the ``logsnr`` grid). The end
    points are set exactly to ``1`` and ``eps``.

    Args:
        rho: the schedule's exponent (7 in Karras et al.).
    """

    compatibility = "needs an SDE whose log-SNR strictly decreases on [eps, 1]"

    def __init__(self, rho: float = 7.0) -> None:
        if not rho > 0:
            raise ValueError(f"rho must be > 0, got {rho}")
        self.rho = float(rho)

    def __call__(self, sde: BaseSDE, num_steps: int) -> torch.Tensor:
        u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
        lam_max, lam_min = sde.log_snr_range()
        s_max, s_min = torch.exp(-0.5 * lam_max), torch.exp(-0.5 * lam_min)
        inv = 1.0 / self.rho
        s = (s_max**inv + u * (s_min**inv - s_max**inv)) ** self.rho
        ts = sde.t_from_log_snr(-2.0 * torch.log(s))
        ts[0], ts[-1] = 1.0, sde.eps
        return ts
