"""One prediction layer: converts a network's output into eps, x0, score or velocity.

With ``x_t = alpha x0 + sigma eps`` (eps drawn from the noise, covariance Sigma) and
``v = dx_t/dt = alpha' x0 + sigma' eps`` every parameterization determines the others
(Kingma et al. 2021; Lipman et al. 2023 for the velocity). "score" is ``Sigma grad log p = -eps / sigma``.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch

from .tensors import expand_t

Parameterization = Literal["eps", "x0", "score", "velocity"]
PARAMETERIZATIONS = ("eps", "x0", "score", "velocity")


def to_eps(out: torch.Tensor, x: torch.Tensor, t: torch.Tensor, sde, parameterization: str) -> torch.Tensor:
    """Convert a raw output ``out`` at ``(x, t)`` into the noise prediction."""
    if parameterization == "eps":
        return out
    alpha, sigma = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
    if parameterization == "x0":
        return (x - alpha * out) / sigma
    if parameterization == "score":
        return -sigma * out
    if parameterization == "velocity":
        d_alpha, d_sigma = expand_t(sde.d_alpha(t), x), expand_t(sde.d_sigma(t), x)
        return (alpha * out - d_alpha * x) / (alpha * d_sigma - sigma * d_alpha)
    raise ValueError(f"unknown parameterization {parameterization!r}; known: {', '.join(PARAMETERIZATIONS)}")


def from_eps(eps: torch.Tensor, x: torch.Tensor, t: torch.Tensor, sde, parameterization: str) -> torch.Tensor:
    """The target a network with ``parameterization`` must output when the true noise is ``eps``."""
    if parameterization == "eps":
        return eps
    alpha, sigma = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
    if parameterization == "x0":
        return (x - sigma * eps) / alpha
    if parameterization == "score":
        return -eps / sigma
    if parameterization == "velocity":
        d_alpha, d_sigma = expand_t(sde.d_alpha(t), x), expand_t(sde.d_sigma(t), x)
        return d_alpha * (x - sigma * eps) / alpha + d_sigma * eps
    raise ValueError(f"unknown parameterization {parameterization!r}; known: {', '.join(PARAMETERIZATIONS)}")


class Prediction:
    """A denoiser seen by samplers: ``eps``, ``x0``, ``score`` and ``velocity`` at ``(x, t)``.

    Args:
        network: ``network(x, t) -> raw output`` with the conditioning already bound, shapes
            ``(batch, length, channels)`` and ``(batch,)``.
        sde: gives ``alpha(t)``, ``sigma(t)`` and their derivatives.
        parameterization: what ``network`` outputs.
    """

    def __init__(self, network: Callable, sde, parameterization: str = "eps") -> None:
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"unknown parameterization {parameterization!r}; known: {', '.join(PARAMETERIZATIONS)}")
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
