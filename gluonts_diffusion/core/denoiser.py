"""The denoiser layer: converts a network's output into eps, x0, score or velocity.

With ``x_t = alpha x0 + sigma eps`` (eps drawn from the noise, covariance Sigma) and
``v = dx_t/dt = alpha' x0 + sigma' eps`` every parameterization determines the others
(Kingma et al. 2021; Lipman et al. 2023 for the velocity). "score" is ``Sigma grad log p = -eps / sigma``.
"edm" is Karras et al.'s (2022, Table 1) preconditioning: on the scaled path ``x / alpha`` with noise level
``k = sigma / alpha`` and data std ``sigma_data``, the network sees ``c_in x / alpha`` and
``x0 = c_skip x / alpha + c_out F``, so at low noise (``c_skip -> 1``, ``c_out -> 0``) it only predicts a
correction to its input. The network still receives ``t`` (not ``c_noise = log(k) / 4``).
Samplers see the network only through a :class:`Denoiser` (k-diffusion's term, Karras et al. 2022).

``x0_bounds`` adapts Saharia et al.'s (2022) thresholding to forecasting: the denoiser clamps its x0 prediction
to bounds derived from the observed history (:func:`history_bounds`) and derives eps (hence score and velocity)
from the clamped x0, so every sampler sees only clean windows within reach of the history.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional, Tuple

import torch
from torch import Tensor

from .component import check_choice
from .sde import BaseSDE
from .tensors import expand_t

#: what a network outputs
Parameterization = Literal["eps", "x0", "score", "velocity", "edm"]


def _edm_root(alpha: torch.Tensor, sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """``sqrt(sigma^2 + sigma_data^2 alpha^2) = alpha sqrt(k^2 + sigma_data^2)``: in these terms ``c_in / alpha =
    1 / root``, ``c_skip / alpha = sigma_data^2 alpha / root^2``, ``c_out = sigma sigma_data / root`` (finite at
    ``alpha = 0``)."""
    return torch.sqrt(sigma**2 + (sigma_data * alpha) ** 2)


def network_input(
    x: torch.Tensor, t: torch.Tensor, sde: BaseSDE, parameterization: Parameterization, sigma_data: float = 1.0
) -> torch.Tensor:
    """What the network sees at ``(x, t)``: ``c_in x / alpha`` for "edm", ``x`` itself (the same tensor) otherwise."""
    if parameterization != "edm":
        return x
    return x / _edm_root(expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x), sigma_data)


def _convert(
    value: torch.Tensor,
    x: torch.Tensor,
    t: torch.Tensor,
    sde: BaseSDE,
    parameterization: Parameterization,
    to_eps: bool,
    sigma_data: float = 1.0,
) -> torch.Tensor:
    """``parameterization`` output -> eps (``to_eps``) or eps -> that output; each pair of formulas are inverses.
    Runs at every network evaluation: an unknown name is refused only after the known ones are tried."""
    if parameterization == "eps":
        return value
    alpha, sigma = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
    if parameterization == "edm":  # eps = (x - alpha x0) / sigma with x0 = c_skip x / alpha + c_out F
        root = _edm_root(alpha, sigma, sigma_data)
        if to_eps:
            return sigma * x / root**2 - alpha * sigma_data * value / root
        return (sigma * x / root**2 - value) * root / (alpha * sigma_data)
    if parameterization == "x0":
        return (x - alpha * value) / sigma if to_eps else (x - sigma * value) / alpha
    if parameterization == "score":
        return -sigma * value if to_eps else -value / sigma
    if parameterization != "velocity":
        check_choice("parameterization", parameterization, Parameterization)  # raises, naming the known ones
    d_alpha, d_sigma = expand_t(sde.d_alpha(t), x), expand_t(sde.d_sigma(t), x)
    if to_eps:
        return (alpha * value - d_alpha * x) / (alpha * d_sigma - sigma * d_alpha)
    return d_alpha * (x - sigma * value) / alpha + d_sigma * value


def to_eps(
    out: Tensor, x: Tensor, t: Tensor, sde: BaseSDE, parameterization: Parameterization, sigma_data: float = 1.0
) -> Tensor:
    """Convert a raw output ``out`` at ``(x, t)`` (batch, length, channels) into the noise prediction."""
    return _convert(out, x, t, sde, parameterization, True, sigma_data)


def from_eps(
    eps: Tensor, x: Tensor, t: Tensor, sde: BaseSDE, parameterization: Parameterization, sigma_data: float = 1.0
) -> Tensor:
    """The target a network with ``parameterization`` must output when the true noise is ``eps``."""
    return _convert(eps, x, t, sde, parameterization, False, sigma_data)


def history_bounds(history: torch.Tensor, observed: torch.Tensor, k: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """``[min - k r, max + k r]`` per series and channel ``(batch, 1, channels)`` of the observed entries of
    ``history`` ``(batch, length, channels)``, ``r = max(max - min, 1)``: a history with (almost) no spread keeps
    a margin of ``k`` units of its scale. Unbounded (``-inf, inf``) where nothing is observed."""
    seen = observed > 0
    inf = torch.full_like(history, float("inf"))
    low = torch.where(seen, history, inf).amin(1, keepdim=True)
    high = torch.where(seen, history, -inf).amax(1, keepdim=True)
    none = ~seen.any(1, keepdim=True)
    margin = k * (high - low).clamp_min(1.0)
    low = torch.where(none, -inf[:, :1], low - margin)
    high = torch.where(none, inf[:, :1], high + margin)
    return low, high


class Denoiser:
    """A network seen by samplers: ``eps``, ``x0``, ``score`` and ``velocity`` at ``(x, t)``.

    Args:
        network: ``network(x, t) -> raw output`` with the conditioning already bound, shapes
            ``(batch, length, channels)`` and ``(batch,)``.
        sde: gives ``alpha(t)``, ``sigma(t)`` and their derivatives.
        parameterization: what ``network`` outputs.
        sigma_data: the data std the "edm" preconditioning assumes (unused by the others).
        x0_bounds: ``(lower, upper)`` broadcastable to ``x`` (e.g. ``(batch, 1, channels)``): the x0 prediction is
            clamped to them and eps derived from the clamped x0 (``x = alpha x0 + sigma eps`` holds); eps is
            unchanged where x0 is within the bounds or ``alpha = 0``. ``None``: no bounds.
    """

    def __init__(
        self,
        network: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        sde: BaseSDE,
        parameterization: Parameterization = "eps",
        sigma_data: float = 1.0,
        x0_bounds: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
    ) -> None:
        check_choice("parameterization", parameterization, Parameterization)
        self.network = network
        self.sde = sde
        self.parameterization = parameterization
        self.sigma_data = sigma_data
        self.x0_bounds = x0_bounds
        self.calls = 0

    def _predict(self, x: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """One network evaluation: eps, and with ``x0_bounds`` the clamped x0 (else ``None``)."""
        self.calls += 1
        p, sd = self.parameterization, self.sigma_data
        eps = to_eps(self.network(network_input(x, t, self.sde, p, sd), t), x, t, self.sde, p, sd)
        if self.x0_bounds is None:
            return eps, None
        alpha, sigma = expand_t(self.sde.alpha(t), x), expand_t(self.sde.sigma(t), x)
        x0 = (x - sigma * eps) / alpha
        lower, upper = self.x0_bounds
        clamped = torch.minimum(torch.maximum(x0, lower), upper)
        keep = (x0 == clamped) | (alpha <= 0)
        return torch.where(keep, eps, (x - alpha * clamped) / sigma), torch.where(keep, x0, clamped)

    def eps(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self._predict(x, t)[0]

    def x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps, x0 = self._predict(x, t)
        if x0 is None:
            x0 = (x - expand_t(self.sde.sigma(t), x) * eps) / expand_t(self.sde.alpha(t), x)
        return x0

    def score(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -self.eps(x, t) / expand_t(self.sde.sigma(t), x)

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return from_eps(self.eps(x, t), x, t, self.sde, "velocity")
