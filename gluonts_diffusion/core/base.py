"""Abstract interfaces of the component kinds: the six a config names, and the samplers' time grids.

Conventions shared by all of them (see README "Conventions"):

* diffused tensors are ``(batch, length, channels)``; diffusion time ``t`` is ``(batch,)``;
* time runs over ``[sde.eps, 1]``: ``t = 0`` is data, ``t = 1`` is the prior;
* every forward process is Gaussian with marginal ``x_t = alpha(t) * x_0 + sigma(t) * n``
  where ``n`` is drawn by the noise component (covariance ``Sigma`` over the time axis);
* "score" always means the noise-preconditioned score ``Sigma @ grad log p_t(x)``, so that
  samplers never have to invert ``Sigma`` (for iid noise it is the plain score).

Each base class lives in its own module; this one gathers them and declares the registry kinds.
"""

from __future__ import annotations

from .architecture import BaseArchitecture
from .component import Component
from .noise import BaseNoise
from .objective import BaseObjective
from .preprocessor import BasePreprocessor
from .registry import Registry
from .sampler import BaseSampler
from .sde import BaseSDE
from .time_grid import BaseTimeGrid

for _kind, _base in {
    "preprocessing": BasePreprocessor,
    "architecture": BaseArchitecture,
    "noise": BaseNoise,
    "sde": BaseSDE,
    "objective": BaseObjective,
    "sampler": BaseSampler,
    "time_grid": BaseTimeGrid,
}.items():
    Registry.add_kind(_kind, _base)

#: the component kinds in the order a config lists them
COMPONENT_KINDS = ("preprocessing", "architecture", "noise", "sde", "objective", "sampler")

__all__ = [
    "COMPONENT_KINDS",
    "BaseArchitecture",
    "BaseNoise",
    "BaseObjective",
    "BasePreprocessor",
    "BaseSampler",
    "BaseSDE",
    "BaseTimeGrid",
    "Component",
]
