"""``denoising``: the DDPM regression objective (Ho et al., 2020) in continuous time.

By default the network predicts the noise (``parameterization: eps``). ``parameterization: x0`` regresses the
clean window directly (as Diffusion-TS, Yuan & Qiao 2024, and CSDI's imputation variants), and
``parameterization: velocity`` the path velocity ``alpha' x0 + sigma' n`` — each with a plain MSE in its own
space. With few training steps x0-prediction is much better conditioned near t = 1, where an eps error is
amplified by ``sigma / alpha`` when converted to x0.
"""

from typing import Literal, Optional

import torch

from gluonts_diffusion.core.base import BaseObjective
from gluonts_diffusion.core.component import check_choice
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t

from ._common import diffuse, masked_mean

RegressionTarget = Literal["eps", "x0", "velocity"]


@Registry.register("objective", "denoising")
class DenoisingObjective(BaseObjective):
    """Mean squared error between the network output and its target in ``x_t = alpha x0 + sigma n``.

    Args:
        parameterization: what the network outputs and is regressed on: ``eps`` (the noise, default),
            ``x0`` (the clean window) or ``velocity``.
    """

    def __init__(self, parameterization: RegressionTarget = "eps") -> None:
        check_choice("parameterization", parameterization, RegressionTarget)
        self.parameterization = parameterization

    def loss(self, network, x0, mask, sde, noise, generator: Optional[torch.Generator] = None):
        t = self.sample_time(x0.shape[0], sde, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t, n = diffuse(x0, t, sde, noise, generator)
        if self.parameterization == "eps":
            target = n
        elif self.parameterization == "x0":
            target = x0
        else:
            target = expand_t(sde.d_alpha(t), x0) * x0 + expand_t(sde.d_sigma(t), x0) * n
        return masked_mean((network(x_t, t) - target) ** 2, mask)
