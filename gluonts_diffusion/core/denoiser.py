"""The denoiser layer: converts a network's output into eps, x0, score or velocity.

With ``x_t = alpha x0 + sigma eps`` (eps drawn from the noise, covariance Sigma) and
``v = dx_t/dt = alpha' x0 + sigma' eps`` every parameterization determines the others
(Kingma et al. 2021; Lipman et al. 2023 for the velocity). "score" is ``Sigma grad log p = -eps / sigma``.
Samplers see the network only through a :class:`Denoiser` (k-diffusion's term, Karras et al. 2022).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch

from .component import check_choice
from .sde import BaseSDE
from .tensors import expand_t

#: what a network outputs
Parameterization = Literal["eps", "x0", "score", "velocity"]


def _convert(
    value: torch.Tensor,
    x: torch.Tensor,
    t: torch.Tensor,
    sde: BaseSDE,
    parameterization: Parameterization,
    to_eps: bool,
) -> torch.Tensor:
    """``parameterization`` output -> eps (``to_eps``) or eps -> that output; each pair of formulas are inverses."""
    check_choice("parameterization", parameterization, Parameterization)
    if parameterization == "eps":
        return value
    alpha, sigma = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
    if parameterization == "x0":
        return (x - alpha * value) / sigma if to_eps else (x - sigma * value) / alpha
    if parameterization == "score":
        return -sigma * value if to_eps else -value / sigma
    d_alpha, d_sigma = expand_t(sde.d_alpha(t), x), expand_t(sde.d_sigma(t), x)
    if to_eps:
        return (alpha * value - d_alpha * x) / (alpha * d_sigma - sigma * d_alpha)
    return d_alpha * (x - sigma * value) / alpha + d_sigma * value


def to_eps(
    out: torch.Tensor, x: torch.Tensor, t: torch.Tensor, sde: BaseSDE, parameterization: Parameterization
) -> torch.Tensor:
    """Convert a raw output ``out`` at ``(x, t)`` (batch, length, channels) into the noise prediction."""
    return _convert(out, x, t, sde, parameterization, to_eps=True)


def from_eps(
    eps: torch.Tensor, x: torch.Tensor, t: torch.Tensor, sde: BaseSDE, parameterization: Parameterization
) -> torch.Tensor:
    """The target a network with ``parameterization`` must output when the true noise is ``eps``."""
    return _convert(eps, x, t, sde, parameterization, to_eps=False)


class Denoiser:
    """A network seen by samplers: ``eps``, ``x0``, ``score`` and ``velocity`` at ``(x, t)``.

    Args:
        network: ``network(x, t) -> raw output`` with the conditioning already bound, shapes
            ``(batch, length, channels)`` and ``(batch,)``.
        sde: gives ``alpha(t)``, ``sigma(t)`` and their derivatives.
        parameterization: what ``network`` outputs.
    """

    def __init__(
        self,
        network: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        sde: BaseSDE,
        parameterization: Parameterization = "eps",
    ) -> None:
        check_choice("parameterization", parameterization, Parameterization)
        self.network = network
        self.sde = sde
        self.parameterization = parameterization
        self.calls = 0

    def eps(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return to_eps(self.network(x, t), x, t, self.sde, self.parameterization)

    def x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = self.eps(x, t)
        return (x - expand_t(self.sde.sigma(t), x) * eps) / expand_t(self.sde.alpha(t), x)

    def score(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -self.eps(x, t) / expand_t(self.sde.sigma(t), x)

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return from_eps(self.eps(x, t), x, t, self.sde, "velocity")
