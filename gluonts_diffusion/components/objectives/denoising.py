"""``denoising``: noise prediction, the DDPM objective (Ho et al., 2020) in continuous time."""
from typing import Optional

import torch

from gluonts_diffusion.core.base import BaseNoise, BaseObjective, BaseSDE
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` (batch, length, channels) over observed entries, per row -> (batch,)."""
    mask = mask.to(values.dtype)
    return (values * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)


def diffuse(x0: torch.Tensor, t: torch.Tensor, sde: BaseSDE, noise: BaseNoise, generator=None):
    """Draw ``x_t = alpha(t) x0 + sigma(t) n``; returns ``(x_t, n)``."""
    n = noise.sample(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return expand_t(sde.alpha(t), x0) * x0 + expand_t(sde.sigma(t), x0) * n, n


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
