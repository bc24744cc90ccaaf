"""The log-SNR path check shared by the semi-linear samplers (private: not auto-imported as a component)."""

from typing import Any, Dict, Optional

import torch

from gluonts_diffusion.core.base import BaseSampler, BaseSDE


def check_log_snr_path(sde: BaseSDE, who: str) -> Optional[str]:
    """Why ``sde`` cannot be integrated in log-SNR / ``x / alpha`` coordinates, else None.

    Semi-linear solvers (DDIM, DPM-Solver, Heun in ``sigma/alpha``) are exact for any Gaussian path
    ``x_t = alpha x0 + sigma n`` (Lu et al., 2022, derive them for general ``f``, ``g``), provided
    ``alpha > 0``, ``sigma > 0`` and the log-SNR strictly decreases on ``[eps, 1]``. This checks those
    properties numerically on a grid, so any registered or custom SDE qualifies when they hold.
    """
    t = torch.linspace(float(sde.eps), 1.0, 257, dtype=torch.float64)
    try:
        alpha, sigma, lam = sde.alpha(t), sde.sigma(t), sde.log_snr(t)
    except Exception as err:  # noqa: BLE001 - any failure is the reason
        return f"{who} cannot evaluate the SDE's alpha, sigma or log-SNR ({type(err).__name__}: {err})"
    if not (torch.isfinite(alpha).all() and torch.isfinite(sigma).all() and torch.isfinite(lam).all()):
        return f"{who} needs finite alpha(t), sigma(t) and log-SNR on [eps, 1]"
    if not (alpha > 0).all():
        return f"{who} divides by alpha(t), which reaches {float(alpha.min()):.3g} on [eps, 1]"
    if not (sigma > 0).all():
        return f"{who} needs sigma(t) > 0 on [eps, 1]"
    if not (lam[1:] < lam[:-1]).all():
        return f"{who} needs a log-SNR log(alpha^2/sigma^2) strictly decreasing in t on [eps, 1]"
    return None


class LogSNRPathSampler(BaseSampler):
    """A sampler integrating in log-SNR / ``x / alpha`` coordinates: refuses SDEs :func:`check_log_snr_path` rejects."""

    compatibility = (
        "any Gaussian path with alpha > 0, sigma > 0 and strictly decreasing log-SNR (VP, sub-VP, VE, "
        "custom); checked numerically"
    )

    def check_compatibility(self, components: Dict[str, Any]) -> Optional[str]:
        sde = components.get("sde")
        return None if sde is None else check_log_snr_path(sde, getattr(self, "registry_name", type(self).__name__))
