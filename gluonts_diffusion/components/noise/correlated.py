"""``correlated``: temporally correlated Gaussian noise (Bilos et al., 2023, "Modeling temporal data as
continuous functions with stochastic process diffusion": OU and GP-RBF noise).

Also holds :class:`CovarianceNoise`, the shared machinery of noises given by a covariance matrix.
"""

from __future__ import annotations

import math
from typing import Dict, Literal, Optional, Sequence, Tuple

import torch

from gluonts_diffusion.core.base import BaseNoise
from gluonts_diffusion.core.component import check_choice
from gluonts_diffusion.core.registry import Registry

#: covariance kernels over the time axis
Kernel = Literal["ou", "rbf"]


class CovarianceNoise(BaseNoise):
    """Gaussian noise with a stationary-in-channels covariance ``Sigma`` over the time axis.

    Subclasses implement :meth:`_covariance` (float64, positive definite). Samples are ``L z`` with
    ``L`` the Cholesky factor of ``Sigma`` and ``z`` iid N(0, 1); whitening is the triangular solve
    ``L^{-1} x``. The covariance is cached per length and the factor per ``(length, device, dtype)``.
    """

    def __init__(self) -> None:
        self._cov_cache: Dict[int, torch.Tensor] = {}
        self._chol_cache: Dict[Tuple[int, str, torch.dtype], torch.Tensor] = {}

    def _covariance(self, length: int) -> torch.Tensor:
        raise NotImplementedError

    def covariance(self, length: int) -> torch.Tensor:
        cov = self._cov_cache.get(length)
        if cov is None:
            cov = self._covariance(int(length)).to(torch.float64)
            self._cov_cache[length] = cov
        return cov.clone()

    def cholesky(self, length: int, device=None, dtype=None) -> torch.Tensor:
        """Lower Cholesky factor of :meth:`covariance` (computed in float64, cached)."""
        device = torch.device(device) if device is not None else torch.device("cpu")
        dtype = dtype or torch.get_default_dtype()
        key = (int(length), str(device), dtype)
        chol = self._chol_cache.get(key)
        if chol is None:
            base = self._chol_cache.get((int(length), "cpu", torch.float64))
            if base is None:
                base = torch.linalg.cholesky(self.covariance(length))
                self._chol_cache[(int(length), "cpu", torch.float64)] = base
            chol = base.to(device=device, dtype=dtype)
            self._chol_cache[key] = chol
        return chol

    def sample(self, shape: Sequence[int], generator: Optional[torch.Generator] = None, device=None, dtype=None):
        z = torch.randn(*shape, generator=generator, device=device, dtype=dtype)
        return self.cholesky(z.shape[1], z.device, z.dtype) @ z

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve_triangular(self.cholesky(z.shape[1], z.device, z.dtype), z, upper=False)

    def log_prob(self, z: torch.Tensor, scale=1.0) -> torch.Tensor:
        scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
        row_scale = scale.reshape(-1, 1, 1) if scale.ndim else scale
        white = self.whiten(z / row_scale)
        length, channels = z.shape[1], z.shape[2]
        logdet = 2 * torch.log(torch.diagonal(self.cholesky(length, dtype=torch.float64))).sum().to(
            z
        ) + 2 * length * torch.log(scale)
        return -0.5 * white.pow(2).flatten(1).sum(1) - 0.5 * channels * (logdet + length * math.log(2 * math.pi))

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_chol_cache"] = {}  # device tensors are not worth pickling
        return state


@Registry.register("noise", "correlated")
class CorrelatedNoise(CovarianceNoise):
    """Stationary Gaussian noise correlated over time, unit marginal variance.

    ``kernel="ou"``: Ornstein-Uhlenbeck / AR(1) with ``Cov(n_i, n_j) = exp(-|i - j| / length_scale)``.
    ``kernel="rbf"``: Gaussian-process squared exponential ``exp(-(i - j)^2 / (2 length_scale^2))``
    plus ``jitter`` on the diagonal, divided by ``1 + jitter`` (unit variance), which keeps the nearly
    singular RBF matrix invertible for whitening and log densities.

    Args:
        kernel: ``"ou"`` or ``"rbf"``.
        length_scale: correlation length in time steps (> 0).
        jitter: diagonal added to the RBF kernel (> 0; unused by ``ou``, which is well conditioned).
    """

    compatibility = (
        "works with every other component; its covariance is defined over the time axis of the "
        "diffused object, so with a preprocessor that changes that axis (e.g. a frequency transform) "
        "the correlation is between its coefficients"
    )

    def __init__(self, kernel: Kernel = "ou", length_scale: float = 3.0, jitter: float = 1e-4) -> None:
        super().__init__()
        check_choice("kernel", kernel, Kernel)
        if isinstance(length_scale, bool) or not (
            isinstance(length_scale, (int, float)) and math.isfinite(length_scale) and length_scale > 0
        ):
            raise ValueError(f"length_scale must be a finite number > 0, got {length_scale!r}")
        if isinstance(jitter, bool) or not (
            isinstance(jitter, (int, float)) and math.isfinite(jitter) and 0 < jitter < 1
        ):
            raise ValueError(f"jitter must be in (0, 1), got {jitter!r}")
        self.kernel = kernel
        self.length_scale = float(length_scale)
        self.jitter = float(jitter)

    def _covariance(self, length: int) -> torch.Tensor:
        idx = torch.arange(length, dtype=torch.float64)
        lag = (idx[:, None] - idx[None, :]).abs()
        if self.kernel == "ou":
            return torch.exp(-lag / self.length_scale)
        cov = torch.exp(-0.5 * (lag / self.length_scale) ** 2) + self.jitter * torch.eye(length, dtype=torch.float64)
        return cov / (1 + self.jitter)
