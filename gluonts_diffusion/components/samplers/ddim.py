"""``ddim``: denoising diffusion implicit models (Song, Meng & Ermon, 2021) on any Gaussian path."""

import torch

from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t, full_t

from ._paths import LogSNRPathSampler


@Registry.register("sampler", "ddim")
class DDIMSampler(LogSNRPathSampler):
    """DDIM steps ``x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c n``.

    ``c = eta * sigma_s * sqrt(1 - (alpha_t sigma_s / (alpha_s sigma_t))^2)``: ``eta = 0`` is the
    deterministic DDIM (= first-order DPM-Solver), ``eta = 1`` the ancestral DDPM step.

    Args:
        num_steps: network evaluations per sample path.
        eta: stochasticity, in [0, 1].
        time_grid: a registered time grid: ``uniform``, ``quadratic``, ``logsnr``, ``karras``, ...
        denoise: return the ``x0`` prediction at ``t = eps`` after the last step (one more evaluation).
    """

    def __init__(
        self, num_steps: int = 50, eta: float = 0.0, time_grid: str = "uniform", denoise: bool = False
    ) -> None:
        super().__init__(num_steps=num_steps, time_grid=time_grid, denoise=denoise)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.eta = float(eta)

    def sample(self, denoiser, x, sde, noise, generator=None):
        ts = self.timesteps(sde, device=x.device, dtype=x.dtype)
        for i in range(self.num_steps):
            t, s = full_t(ts[i], x.shape[0], x), full_t(ts[i + 1], x.shape[0], x)
            eps = denoiser.eps(x, t)
            a_t, s_t = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
            a_s, s_s = expand_t(sde.alpha(s), x), expand_t(sde.sigma(s), x)
            x0 = (x - s_t * eps) / a_t
            c = self.eta * s_s * torch.sqrt((1 - (a_t * s_s / (a_s * s_t)) ** 2).clamp_min(0))
            x = a_s * x0 + torch.sqrt((s_s**2 - c**2).clamp_min(0)) * eps
            if self.eta > 0:
                x = x + c * noise.sample(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return self.finish(denoiser, x, sde)
