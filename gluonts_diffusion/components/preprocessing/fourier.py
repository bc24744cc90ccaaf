"""``fourier``: the model diffuses the (orthonormal) real Fourier coefficients of the normalized window."""

from __future__ import annotations

import math
from typing import Tuple

import torch

from gluonts_diffusion.core.base import BasePreprocessor
from gluonts_diffusion.core.preprocessor import Scaling
from gluonts_diffusion.core.registry import Registry


@Registry.register("preprocessing", "fourier")
class FourierPreprocessor(BasePreprocessor):
    """Real FFT of the window along time, as in frequency-domain diffusion for time series
    (Crabbé et al., "Time Series Diffusion in the Frequency Domain", 2024).

    A window ``(batch, length, channels)`` becomes ``(batch, length, channels)``: the real parts of the
    ``length // 2 + 1`` rFFT frequencies followed by the imaginary parts of the ``(length - 1) // 2``
    frequencies that have one (the DC and, for even lengths, Nyquist terms are real). With
    ``torch.fft.rfft(norm="ortho")`` and the paired frequencies scaled by ``sqrt(2)`` the map is an
    orthogonal change of basis: i.i.d. unit noise on the coefficients is i.i.d. unit noise in time, so
    noise scales keep their meaning. ``decode`` is ``irfft(n=length)``, exact for any length.

    Every coefficient depends on every time step: a coefficient counts as observed only when the whole
    window is observed.

    Args:
        scaling, min_scale: per-series normalization, see ``raw``.
    """

    def __init__(self, scaling: Scaling = "std", min_scale: float = 1e-5) -> None:
        super().__init__(scaling=scaling, min_scale=min_scale)

    @staticmethod
    def _sizes(n: int) -> Tuple[int, int]:
        """Number of real parts and of imaginary parts kept for a window of length ``n``."""
        return n // 2 + 1, (n - 1) // 2

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        n_re, n_im = self._sizes(n)
        spec = torch.fft.rfft(x, n=n, dim=1, norm="ortho")
        paired = torch.ones(n_re, dtype=x.dtype, device=x.device)
        paired[1 : 1 + n_im] = math.sqrt(2.0)
        real = spec.real * paired[None, :, None]
        imag = spec.imag[:, 1 : 1 + n_im] * math.sqrt(2.0)
        return torch.cat([real, imag], dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[1]
        n_re, n_im = self._sizes(n)
        real = z[:, :n_re].clone()
        real[:, 1 : 1 + n_im] = real[:, 1 : 1 + n_im] / math.sqrt(2.0)
        imag = torch.zeros_like(real)
        imag[:, 1 : 1 + n_im] = z[:, n_re:] / math.sqrt(2.0)
        return torch.fft.irfft(torch.complex(real, imag), n=n, dim=1, norm="ortho")

    def transform_mask(self, mask: torch.Tensor) -> torch.Tensor:
        observed = mask.bool().all(dim=1, keepdim=True).expand_as(mask)
        return observed if mask.dtype == torch.bool else observed.to(mask.dtype)

    def diffused_shape(self, length: int, channels: int) -> Tuple[int, int]:
        return length, channels
