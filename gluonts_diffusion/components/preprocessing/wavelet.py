"""``wavelet``: the model diffuses the discrete wavelet coefficients of the normalized window."""

from __future__ import annotations

import warnings
from typing import Dict, Tuple

import numpy as np
import pywt
import torch

from gluonts_diffusion.core.base import BasePreprocessor
from gluonts_diffusion.core.preprocessor import Scaling
from gluonts_diffusion.core.registry import Registry


def _symmetric_index(j: int, n: int) -> int:
    """Half-sample symmetric extension of indices ``0..n-1`` (``x[n-1], x[n-2], ...`` after the end)."""
    k = j % (2 * n)
    return k if k < n else 2 * n - 1 - k


@Registry.register("preprocessing", "wavelet")
class WaveletPreprocessor(BasePreprocessor):
    """Multilevel discrete wavelet transform along time (Mallat, 1989; built with PyWavelets), as in
    wavelet-domain diffusion for time series (e.g. Wang et al., "WaveDiff", 2023).

    A window ``(batch, length, channels)`` becomes the coefficients ``[cA_level, cD_level, ..., cD_1]``
    concatenated along the time axis: ``(batch, length', channels)``. The transform is a linear map
    ``A`` built once per length from PyWavelets (applied to the identity) and applied by a batched
    matrix product, so it is differentiable and exact:

    * ``mode="periodization"`` (default): the window is first extended symmetrically at its end to a
      multiple of ``2**level``; the transform is then orthonormal (``length'`` = the padded length,
      i.i.d. noise on coefficients is i.i.d. noise in time) and ``decode`` is the inverse transform
      cropped to the original length;
    * any other PyWavelets mode (``symmetric``, ``zero``, ...): redundant coefficients
      (``length' > length``), ``decode`` is the pseudo-inverse (exact left inverse).

    A coefficient counts as observed when every time step of its support is observed. With padding,
    several window lengths share a coefficient count: ``decode`` returns the length last passed to
    :meth:`diffused_shape` or :meth:`encode` for that count (else the largest such length).

    Args:
        wavelet: a discrete PyWavelets wavelet name (``db4``, ``haar``, ``sym5``...).
        level: decomposition levels (>= 1).
        mode: PyWavelets signal extension mode.
        scaling, min_scale: per-series normalization, see ``raw``.
    """

    def __init__(
        self,
        wavelet: str = "db4",
        level: int = 3,
        mode: str = "periodization",
        scaling: Scaling = "std",
        min_scale: float = 1e-5,
    ) -> None:
        super().__init__(scaling=scaling, min_scale=min_scale)
        if wavelet not in pywt.wavelist(kind="discrete"):
            raise ValueError(f"wavelet must be a discrete PyWavelets wavelet (e.g. 'db4', 'haar'), got {wavelet!r}")
        if isinstance(level, bool) or int(level) != level or int(level) < 1:
            raise ValueError(f"level must be an integer >= 1, got {level!r}")
        if mode not in pywt.Modes.modes:
            raise ValueError(f"mode must be one of {', '.join(pywt.Modes.modes)}, got {mode!r}")
        self.wavelet = wavelet
        self.level = int(level)
        self.mode = mode
        self._numpy_cache: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        self._torch_cache: Dict[tuple, Tuple[torch.Tensor, torch.Tensor]] = {}
        self._lengths: Dict[int, int] = {}  # coefficient count -> window length it decodes to

    # ------------------------------------------------------------------ matrices
    def _numpy_matrices(self, n: int) -> Tuple[np.ndarray, np.ndarray]:
        """Analysis ``A`` (M, n) and synthesis ``D`` (n, M) with ``D @ A = I`` (float64)."""
        if n < 1:
            raise ValueError(f"length must be >= 1, got {n}")
        if n not in self._numpy_cache:
            if self.mode == "periodization":
                block = 2**self.level
                n_pad = -(-n // block) * block
                pad = np.zeros((n_pad, n))
                pad[np.arange(n_pad), [_symmetric_index(j, n) for j in range(n_pad)]] = 1.0
            else:
                n_pad, pad = n, np.eye(n)
            with warnings.catch_warnings():  # levels beyond pywt's "useful" maximum are still invertible
                warnings.simplefilter("ignore")
                coeffs = pywt.wavedec(np.eye(n_pad), self.wavelet, mode=self.mode, level=self.level, axis=-1)
            analysis = np.concatenate(coeffs, axis=1).T  # (M, n_pad)
            if self.mode == "periodization" and np.allclose(analysis @ analysis.T, np.eye(len(analysis)), atol=1e-10):
                synthesis = analysis.T[:n]  # inverse transform, then crop the padding
            else:
                synthesis = np.linalg.pinv(analysis @ pad)
            analysis = analysis @ pad
            if not np.allclose(synthesis @ analysis, np.eye(n), atol=1e-9):
                raise ValueError(f"mode {self.mode!r} does not give an exactly invertible transform for length {n}")
            self._numpy_cache[n] = (analysis, synthesis)
        return self._numpy_cache[n]

    def _matrices(self, n: int, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        dtype = like.dtype if like.is_floating_point() else torch.float32
        key = (n, like.device, dtype)
        if key not in self._torch_cache:
            a, d = self._numpy_matrices(n)
            self._torch_cache[key] = (
                torch.as_tensor(a, dtype=dtype, device=like.device),
                torch.as_tensor(d, dtype=dtype, device=like.device),
            )
        return self._torch_cache[key]

    def _length_from_coefficients(self, m: int) -> int:
        """The window length that ``m`` coefficients decode to: the last length this instance
        encoded or sized with that many coefficients, else the largest length giving ``m``."""
        if m in self._lengths:
            return self._lengths[m]
        for n in range(m, 0, -1):
            if self._numpy_matrices(n)[0].shape[0] == m:
                return n
        raise ValueError(f"{m} coefficients match no window length for wavelet {self.wavelet!r}, level {self.level}")

    # ------------------------------------------------------------------ interface
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        analysis, _ = self._matrices(x.shape[1], x)
        self._lengths[analysis.shape[0]] = x.shape[1]
        return torch.einsum("mn,bnc->bmc", analysis, x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        n = self._length_from_coefficients(z.shape[1])
        _, synthesis = self._matrices(n, z)
        if synthesis.shape[1] != z.shape[1]:
            raise ValueError(f"{z.shape[1]} coefficients do not match a window of length {n}")
        return torch.einsum("nm,bmc->bnc", synthesis, z)

    def transform_mask(self, mask: torch.Tensor) -> torch.Tensor:
        analysis, _ = self._matrices(mask.shape[1], mask.float())
        support = (analysis.abs() > 1e-12).to(analysis.dtype)
        missing = torch.einsum("mn,bnc->bmc", support, 1.0 - mask.to(analysis.dtype))
        observed = missing < 0.5
        return observed if mask.dtype == torch.bool else observed.to(mask.dtype)

    def diffused_shape(self, length: int, channels: int) -> Tuple[int, int]:
        m = self._numpy_matrices(int(length))[0].shape[0]
        self._lengths[m] = int(length)
        return m, channels
