"""``structured``: iid noise mixed with a structured component (a random seasonal profile, random-phase
harmonics or band-limited noise), in the spirit of the stochastic-process noise of Bilos et al. (2023)."""

from __future__ import annotations

import math
from typing import Literal

import torch

from gluonts_diffusion.core.component import check_choice
from gluonts_diffusion.core.registry import Registry

from .correlated import CovarianceNoise

Pattern = Literal["seasonal", "periodic", "band"]


def _is_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and float(value).is_integer()


@Registry.register("noise", "structured")
class StructuredNoise(CovarianceNoise):
    """``n = sqrt(1 - strength) w + sqrt(strength) p`` with ``w`` iid N(0, 1) and ``p`` a structured
    unit-variance Gaussian process, so ``Sigma = (1 - strength) I + strength P`` has unit diagonal.

    ``pattern`` picks ``P`` (lags ``tau = i - j`` in time steps):

    * ``"seasonal"``: a random profile repeated every ``period`` steps, ``P_ij = 1[tau mod period = 0]``;
    * ``"periodic"``: random-phase sinusoids at the first ``harmonics`` multiples of ``1/period``,
      ``P_ij = mean_k cos(2 pi k tau / period)``;
    * ``"band"``: flat spectrum on ``[low_freq, high_freq]`` cycles per step,
      ``P_ij = (sin(2 pi f2 tau) - sin(2 pi f1 tau)) / (2 pi (f2 - f1) tau)`` (1 at ``tau = 0``).

    ``covariance`` returns this exact matrix and ``sample`` draws from it (Cholesky factor, cached);
    ``strength < 1`` keeps it positive definite (smallest eigenvalue >= 1 - strength).

    Args:
        pattern: ``"seasonal"``, ``"periodic"`` or ``"band"``.
        period: season length in time steps (integer >= 2; seasonal and periodic).
        strength: share of the variance in the structured part, in [0, 1).
        harmonics: number of harmonics of the periodic pattern, in [1, period // 2].
        low_freq, high_freq: the band of the band pattern, ``0 <= low_freq < high_freq <= 0.5``.
    """

    compatibility = (
        "works with every other component; the pattern is laid over the time axis of the diffused object "
        "(time steps of the prediction window for time-domain preprocessors)"
    )

    def __init__(
        self,
        pattern: Pattern = "seasonal",
        period: int = 7,
        strength: float = 0.5,
        harmonics: int = 1,
        low_freq: float = 0.0,
        high_freq: float = 0.1,
    ) -> None:
        super().__init__()
        check_choice("pattern", pattern, Pattern)
        if not (_is_int(period) and period >= 2):
            raise ValueError(f"period must be an integer >= 2, got {period!r}")
        if isinstance(strength, bool) or not (isinstance(strength, (int, float)) and 0 <= strength < 1):
            raise ValueError(f"strength must be in [0, 1), got {strength!r}")
        if not (_is_int(harmonics) and 1 <= harmonics <= int(period) // 2):
            raise ValueError(
                f"harmonics must be an integer in [1, period // 2 = {int(period) // 2}], got {harmonics!r}"
            )
        for name, value in (("low_freq", low_freq), ("high_freq", high_freq)):
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 <= value <= 0.5):
                raise ValueError(f"{name} must be in [0, 0.5] cycles per step, got {value!r}")
        if not low_freq < high_freq:
            raise ValueError(f"low_freq must be < high_freq, got low_freq={low_freq}, high_freq={high_freq}")
        self.pattern = pattern
        self.period = int(period)
        self.strength = float(strength)
        self.harmonics = int(harmonics)
        self.low_freq = float(low_freq)
        self.high_freq = float(high_freq)

    def pattern_covariance(self, length: int) -> torch.Tensor:
        """The structured part ``P`` (unit diagonal, positive semi-definite), float64."""
        idx = torch.arange(length, dtype=torch.float64)
        lag = idx[:, None] - idx[None, :]
        if self.pattern == "seasonal":
            return (torch.remainder(lag, self.period) == 0).to(torch.float64)
        if self.pattern == "periodic":
            k = torch.arange(1, self.harmonics + 1, dtype=torch.float64)
            return torch.cos(2 * math.pi * lag[..., None] * k / self.period).mean(-1)
        f1, f2 = self.low_freq, self.high_freq
        safe = torch.where(lag == 0, torch.ones_like(lag), lag)
        band = (torch.sin(2 * math.pi * f2 * safe) - torch.sin(2 * math.pi * f1 * safe)) / (
            2 * math.pi * (f2 - f1) * safe
        )
        return torch.where(lag == 0, torch.ones_like(lag), band)

    def _covariance(self, length: int) -> torch.Tensor:
        eye = torch.eye(length, dtype=torch.float64)
        return (1 - self.strength) * eye + self.strength * self.pattern_covariance(length)
