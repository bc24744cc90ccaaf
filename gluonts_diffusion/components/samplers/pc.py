"""``pc``: predictor-corrector sampling with a Langevin corrector (Song et al., 2021, Algorithms 2-3)."""

from typing import Literal

import torch

from gluonts_diffusion.core.base import BaseSampler
from gluonts_diffusion.core.component import check_choice
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t, full_t

Predictor = Literal["reverse_diffusion", "euler"]


@Registry.register("sampler", "pc")
class PCSampler(BaseSampler):
    """At each time: ``corrector_steps`` Langevin MCMC steps at ``t``, then one reverse-SDE predictor step.

    Corrector (preconditioned by the noise covariance, so correlated noise is respected)::

        x <- x + e * score + sqrt(2 e) n,   n ~ noise,   e = 2 r (snr ||z|| / ||score||)^2

    with ``||.||`` the whitened norm averaged over the batch, as in Song et al.'s code (a per-row,
    state-dependent step would bias the chain), and ``r = (alpha_t / alpha_s)^2`` (``1 - beta_i`` for
    VP, 1 for VE). The step size therefore depends on the whole batch.
    Predictor: ``reverse_diffusion`` (Song et al.'s ancestral-like discretization built from the forward
    transition ``x_t = a x_s + G n``, ``a = alpha_t/alpha_s``, ``G^2 = sigma_t^2 - a^2 sigma_s^2``) or
    ``euler`` (Euler-Maruyama). The last predictor step adds no noise. All noise comes from the noise
    component.

    Args:
        num_steps: predictor steps.
        snr: signal-to-noise ratio of the Langevin corrector (0.16 in Song et al.; 0 disables it).
        corrector_steps: Langevin steps per predictor step (network evaluations per path:
            ``num_steps * (1 + corrector_steps)``).
        predictor: ``reverse_diffusion`` or ``euler``.
        time_grid: a registered time grid: ``uniform``, ``quadratic``, ``logsnr``, ``karras``, ...
        denoise: return the ``x0`` prediction at ``t = eps`` after the last step (one more evaluation).
    """

    def __init__(
        self,
        num_steps: int = 500,
        snr: float = 0.16,
        corrector_steps: int = 1,
        predictor: Predictor = "reverse_diffusion",
        time_grid: str = "uniform",
        denoise: bool = False,
    ) -> None:
        super().__init__(num_steps=num_steps, time_grid=time_grid, denoise=denoise)
        if not snr >= 0:
            raise ValueError(f"snr must be >= 0, got {snr}")
        if isinstance(corrector_steps, bool) or int(corrector_steps) != corrector_steps or corrector_steps < 0:
            raise ValueError(f"corrector_steps must be an integer >= 0, got {corrector_steps}")
        check_choice("predictor", predictor, Predictor)
        self.snr = float(snr)
        self.corrector_steps = int(corrector_steps) if self.snr > 0 else 0
        self.predictor = predictor

    @property
    def nfe(self) -> int:
        return self.num_steps * (1 + self.corrector_steps) + self.denoise

    def _noise(self, x, noise, generator):
        return noise.sample(x.shape, generator=generator, device=x.device, dtype=x.dtype)

    def sample(self, denoiser, x, sde, noise, generator=None):
        ts = self.timesteps(sde, dtype=torch.float64)
        alphas, sigmas = sde.alpha(ts).tolist(), sde.sigma(ts).tolist()
        batch = x.shape[0]
        for i in range(self.num_steps):
            t = full_t(ts[i], batch, x)
            a = alphas[i] / alphas[i + 1]
            for _ in range(self.corrector_steps):
                score = denoiser.score(x, t)
                z = self._noise(x, noise, generator)
                grad_norm = noise.whiten(score).flatten(1).norm(dim=1).mean()
                noise_norm = noise.whiten(z).flatten(1).norm(dim=1).mean()
                step = 2 * a * a * (self.snr * noise_norm / grad_norm.clamp_min(1e-12)) ** 2
                x = x + step * score + torch.sqrt(2 * step) * z
            last = i == self.num_steps - 1
            score = denoiser.score(x, t)
            if self.predictor == "reverse_diffusion":
                g2 = max(sigmas[i] ** 2 - a * a * sigmas[i + 1] ** 2, 0.0)
                x = (2 - a) * x + g2 * score
                if not last:
                    x = x + g2**0.5 * self._noise(x, noise, generator)
            else:
                dt = float(ts[i + 1] - ts[i])  # negative
                x = x + sde.reverse_drift(x, t, score) * dt
                if not last:
                    x = x + expand_t(sde.diffusion(t), x) * (-dt) ** 0.5 * self._noise(x, noise, generator)
        return self.finish(denoiser, x, sde)
