"""``denoising``: noise prediction, the DDPM objective (Ho et al., 2020) in continuous time."""
from typing import Optional

import torch

from gluonts_diffusion.core.base import BaseObjective
from gluonts_diffusion.core.registry import Registry

from ._common import diffuse, masked_mean  # noqa: F401  (re-exported)


@Registry.register("objective", "denoising")
class DenoisingObjective(BaseObjective):
    """Mean squared error between the network output and the noise ``n`` in ``x_t = alpha x0 + sigma n``."""

    prediction = "eps"

    def __init__(self) -> None:
        pass

    def loss(self, network, x0, mask, sde, noise, generator: Optional[torch.Generator] = None):
        t = self.sample_time(x0.shape[0], sde, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t, n = diffuse(x0, t, sde, noise, generator)
        return masked_mean((network(x_t, t) - n) ** 2, mask)
