"""``euler``: Euler–Maruyama on the reverse-time SDE, or Euler on the probability-flow ODE (Song et al., 2021)."""

import torch

from gluonts_diffusion.core.base import BaseSampler
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t, full_t


@Registry.register("sampler", "euler")
class EulerSampler(BaseSampler):
    """Reverse SDE ``dx = [f x - g^2 score] dt + g Sigma^{1/2} dW`` integrated from t=1 down to eps.

    The last step adds no noise (it returns the mean of the final transition).

    Args:
        num_steps: network evaluations per sample path.
        probability_flow: integrate the deterministic ODE ``dx = [f x - g^2 score / 2] dt`` instead.
        time_grid: a registered time grid: ``uniform``, ``quadratic``, ``logsnr``, ``karras``, ...
        denoise: return the ``x0`` prediction at ``t = eps`` after the last step (one more evaluation).
    """

    def __init__(
        self,
        num_steps: int = 1000,
        probability_flow: bool = False,
        time_grid: str = "uniform",
        denoise: bool = False,
    ) -> None:
        super().__init__(num_steps=num_steps, time_grid=time_grid, denoise=denoise)
        self.probability_flow = bool(probability_flow)

    def sample(self, denoiser, x, sde, noise, generator=None):
        ts = self.timesteps(sde, device=x.device, dtype=x.dtype)
        for i in range(self.num_steps):
            t = full_t(ts[i], x.shape[0], x)
            dt = ts[i + 1] - ts[i]  # negative
            drift = sde.reverse_drift(x, t, denoiser.score(x, t), self.probability_flow)
            x = x + drift * dt
            if not self.probability_flow and i < self.num_steps - 1:
                g = expand_t(sde.diffusion(t), x)
                x = x + g * torch.sqrt(-dt) * noise.sample(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return self.finish(denoiser, x, sde)
