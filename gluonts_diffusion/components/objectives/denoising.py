"""``denoising``: the DDPM regression objective (Ho et al., 2020) in continuous time.

``parameterization: eps`` has the network predict the noise (DDPM). ``parameterization: x0`` regresses the
clean window directly (as Diffusion-TS, Yuan & Qiao 2024, and CSDI's imputation variants), and
``parameterization: velocity`` the path velocity ``alpha' x0 + sigma' n`` — each with a plain MSE in its own
space. With few training steps x0-prediction is much better conditioned near t = 1, where an eps error is
amplified by ``sigma / alpha`` when converted to x0. ``parameterization: edm`` is Karras et al.'s (2022)
preconditioning (``core.denoiser``): the network's input is scaled by ``c_in`` and its output ``F`` regressed on
``(x0 - c_skip x_t / alpha) / c_out``, i.e. the x0 error weighted by EDM's ``lambda = 1 / c_out^2 =
(k^2 + sigma_data^2) / (k sigma_data)^2`` with ``k = sigma / alpha`` (their eq. 8). ``edm`` is the default:
chosen on validation windows of seven datasets (evaluation/results/defaults_validation.md), it is the only
parameterization tried whose default forecaster beat SeasonalNaive on all of them.
"""

from typing import Literal, Optional

import torch

from gluonts_diffusion.core.base import BaseObjective
from gluonts_diffusion.core.component import check_choice
from gluonts_diffusion.core.denoiser import from_eps, network_input
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t

from ._common import diffuse, masked_mean

RegressionTarget = Literal["eps", "x0", "velocity", "edm"]


@Registry.register("objective", "denoising")
class DenoisingObjective(BaseObjective):
    """Mean squared error between the network output and its target in ``x_t = alpha x0 + sigma n``.

    Args:
        parameterization: what the network outputs and is regressed on: ``eps`` (the noise), ``x0`` (the clean
            window), ``velocity`` or ``edm`` (the preconditioned correction, EDM-weighted; default).
        sigma_data: the data std ``edm`` assumes (> 0; 1 for the package's scaled windows); unused by the others.
    """

    def __init__(self, parameterization: RegressionTarget = "edm", sigma_data: float = 1.0) -> None:
        check_choice("parameterization", parameterization, RegressionTarget)
        if isinstance(sigma_data, bool) or not isinstance(sigma_data, (int, float)) or not sigma_data > 0:
            raise ValueError(f"sigma_data must be a number > 0, got {sigma_data!r}")
        self.parameterization = parameterization
        self.sigma_data = float(sigma_data)

    def loss(self, network, x0, mask, sde, noise, generator: Optional[torch.Generator] = None):
        t = self.sample_time(x0.shape[0], sde, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t, n = diffuse(x0, t, sde, noise, generator)
        if self.parameterization == "eps":
            target = n
        elif self.parameterization == "x0":
            target = x0
        elif self.parameterization == "edm":
            target = from_eps(n, x_t, t, sde, "edm", self.sigma_data)
        else:
            target = expand_t(sde.d_alpha(t), x0) * x0 + expand_t(sde.d_sigma(t), x0) * n
        x_in = network_input(x_t, t, sde, self.parameterization, self.sigma_data)
        return masked_mean((network(x_in, t) - target) ** 2, mask)
