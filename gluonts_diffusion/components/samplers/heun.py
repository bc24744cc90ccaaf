"""``heun``: Heun's second-order method on the probability-flow ODE (Karras et al., 2022, Algorithm 1)."""

import torch

from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import full_t

from ._paths import LogSNRPathSampler


@Registry.register("sampler", "heun")
class HeunSampler(LogSNRPathSampler):
    """Deterministic Heun (trapezoidal predictor-corrector) steps on the probability-flow ODE.

    Integrated in the coordinates Karras et al. (2022) recommend for any Gaussian path: with
    ``y = x / alpha(t)`` and ``s = sigma(t) / alpha(t)`` the ODE is ``dy/ds = eps_hat(x, t)``, whose
    Euler step is exactly DDIM (eta = 0); Heun adds the trapezoidal correction. The last step is an
    Euler step (as in Karras et al.), so a path costs ``2 * num_steps - 1`` network evaluations.

    Args:
        num_steps: time steps (network evaluations: ``2 * num_steps - 1``).
        time_grid: a registered time grid: ``logsnr`` (uniform in log-SNR, i.e. geometric in
            ``sigma / alpha``), ``karras`` (Karras et al.'s schedule), ``uniform``, ``quadratic``, ...
        denoise: return the ``x0`` prediction at ``t = eps`` after the last step (one more evaluation: ``2 * num_steps``).
    """

    def __init__(self, num_steps: int = 18, time_grid: str = "logsnr", denoise: bool = False) -> None:
        super().__init__(num_steps=num_steps, time_grid=time_grid, denoise=denoise)

    @property
    def nfe(self) -> int:
        return 2 * self.num_steps - 1 + self.denoise

    def sample(self, denoiser, x, sde, noise, generator=None):
        ts = self.timesteps(sde, dtype=torch.float64)  # coefficients in float64, cast per step
        alphas, sigmas = sde.alpha(ts), sde.sigma(ts)
        batch = x.shape[0]
        for i in range(self.num_steps):
            a_t, a_s = float(alphas[i]), float(alphas[i + 1])
            ds = float(sigmas[i + 1] / alphas[i + 1] - sigmas[i] / alphas[i])
            y = x / a_t
            d = denoiser.eps(x, full_t(ts[i], batch, x))
            y_next = y + ds * d
            if i < self.num_steps - 1:
                d_next = denoiser.eps(a_s * y_next, full_t(ts[i + 1], batch, x))
                y_next = y + ds * 0.5 * (d + d_next)
            x = a_s * y_next
        return self.finish(denoiser, x, sde)
