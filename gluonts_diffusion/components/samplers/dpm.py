"""``dpm``: multistep DPM-Solver (Lu et al., 2022) and DPM-Solver++ (Lu et al., 2022b), orders 1-3."""

import math
from typing import List, Literal

import torch

from gluonts_diffusion.core.component import check_choice
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import full_t

from ._paths import LogSNRPathSampler

Algorithm = Literal["dpmsolver", "dpmsolver++"]


@Registry.register("sampler", "dpm")
class DPMSolverSampler(LogSNRPathSampler):
    """Multistep exponential integrator of the probability-flow ODE in ``lambda = log(alpha / sigma)``.

    The ODE's linear part is solved exactly; the network term (noise prediction for ``dpmsolver``, data
    prediction for ``dpmsolver++``) is extrapolated with a Taylor expansion in ``lambda`` built from
    the previous ``order - 1`` evaluations (one network call per step). The first steps warm up with
    lower orders, and with fewer than 10 steps the last steps drop the order too (Lu et al.'s
    ``lower_order_final``). Order 1 is DDIM (eta = 0). Note ``lambda`` is half of ``sde.log_snr``.

    Args:
        num_steps: time steps = network evaluations.
        order: 1, 2 or 3.
        algorithm: ``dpmsolver`` (noise prediction) or ``dpmsolver++`` (data prediction, better for
            few steps and guidance).
        time_grid: a registered time grid: ``logsnr`` (uniform in lambda, the paper's choice), ``uniform``,
            ``quadratic``, ``karras``, ...
        lower_order_final: use lower orders at the final steps when ``num_steps < 10``.
        denoise: return the ``x0`` prediction at ``t = eps`` after the last step (one more evaluation).
    """

    def __init__(
        self,
        num_steps: int = 20,
        order: Literal[1, 2, 3] = 2,
        algorithm: Algorithm = "dpmsolver++",
        time_grid: str = "logsnr",
        lower_order_final: bool = True,
        denoise: bool = False,
    ) -> None:
        super().__init__(num_steps=num_steps, time_grid=time_grid, denoise=denoise)
        if isinstance(order, bool) or order not in (1, 2, 3):
            raise ValueError(f"order must be 1, 2 or 3, got {order!r}")
        check_choice("algorithm", algorithm, Algorithm)
        self.order = int(order)
        self.algorithm = algorithm
        self.lower_order_final = bool(lower_order_final)

    def step_order(self, i: int) -> int:
        """Order of step ``i`` (0-based): warm-up from 1, and lower at the end of short runs."""
        order = min(self.order, i + 1)
        if self.lower_order_final and self.num_steps < 10:
            order = min(order, self.num_steps - i)
        return order

    def sample(self, denoiser, x, sde, noise, generator=None):
        ts = self.timesteps(sde, dtype=torch.float64)
        alphas, sigmas = sde.alpha(ts).tolist(), sde.sigma(ts).tolist()
        lams = (0.5 * sde.log_snr(ts)).tolist()
        data_pred = self.algorithm == "dpmsolver++"
        outputs: List[torch.Tensor] = []
        batch = x.shape[0]
        for i in range(self.num_steps):
            eps = denoiser.eps(x, full_t(ts[i], batch, x))
            outputs = (outputs + [(x - sigmas[i] * eps) / alphas[i] if data_pred else eps])[-3:]
            order = self.step_order(i)
            a_s, s_s = alphas[i + 1], sigmas[i + 1]
            h = lams[i + 1] - lams[i]
            m0 = outputs[-1]
            if data_pred:
                phi1 = math.expm1(-h)
                base = (s_s / sigmas[i]) * x - (a_s * phi1) * m0
            else:
                phi1 = math.expm1(h)
                base = (a_s / alphas[i]) * x - (s_s * phi1) * m0
            if order == 1:
                x = base
                continue
            r0 = (lams[i] - lams[i - 1]) / h
            d1_0 = (m0 - outputs[-2]) / r0
            if order == 2:
                coef = a_s if data_pred else s_s
                x = base - 0.5 * coef * phi1 * d1_0
                continue
            r1 = (lams[i - 1] - lams[i - 2]) / h
            d1_1 = (outputs[-2] - outputs[-3]) / r1
            d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1)
            d2 = (d1_0 - d1_1) / (r0 + r1)
            if data_pred:
                phi2 = phi1 / h + 1.0
                phi3 = phi2 / h - 0.5
                x = base + (a_s * phi2) * d1 - (a_s * phi3) * d2
            else:
                phi2 = phi1 / h - 1.0
                phi3 = phi2 / h - 0.5
                x = base - (s_s * phi2) * d1 - (s_s * phi3) * d2
        return self.finish(denoiser, x, sde)
