"""``flow_matching``: conditional flow matching with velocity prediction (Lipman et al., 2023; Liu et al., 2023)."""

from typing import Optional

import torch

from gluonts_diffusion.core.base import BaseObjective
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t

from ._common import diffuse, masked_mean


@Registry.register("objective", "flow_matching")
class FlowMatchingObjective(BaseObjective):
    """Regress the conditional velocity of the SDE's Gaussian path ``x_t = alpha(t) x0 + sigma(t) n``.

    Target ``v = alpha'(t) x0 + sigma'(t) n``; loss ``|| v_theta(x_t, t) - v ||^2`` averaged over the
    observed entries, ``t`` uniform on ``[eps, 1]``. The minimiser ``E[v | x_t]`` is the velocity of the
    probability-flow ODE, which the prediction layer converts to noise via ``alpha``, ``sigma`` and
    their derivatives. The path is the SDE's: a rectified-flow / optimal-transport path
    (``alpha = 1 - t``, ``sigma = t``) is obtained by choosing an SDE with those coefficients, so that
    sampler and objective always agree on the path.
    """

    prediction = "velocity"
    compatibility = "needs an SDE whose alpha(t), sigma(t) are differentiable (d_alpha, d_sigma)"

    def __init__(self) -> None:
        pass

    def loss(self, network, x0, mask, sde, noise, generator: Optional[torch.Generator] = None):
        t = self.sample_time(x0.shape[0], sde, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t, n = diffuse(x0, t, sde, noise, generator)
        target = expand_t(sde.d_alpha(t), x0) * x0 + expand_t(sde.d_sigma(t), x0) * n
        return masked_mean((network(x_t, t) - target) ** 2, mask)
