"""Shared pieces of the closed-form tests: small Gaussian problems and how to build every SDE and noise."""
import math

import pytest
import torch

from gluonts_diffusion.core.registry import Registry

DTYPE = torch.float64
LENGTH, CHANNELS = 3, 2
DIM = LENGTH * CHANNELS


def cosine_alpha(t):
    """Nichol & Dhariwal's cosine schedule, stopped at 0.97 of its range so that alpha(1) > 0."""
    return torch.cos(0.5 * math.pi * 0.97 * t)


def cosine_sigma(t):
    return torch.sin(0.5 * math.pi * 0.97 * t)


#: parameters for SDEs whose defaults cannot be built (the custom SDE needs its coefficients)
SDE_PARAMS = {"custom": dict(alpha_fn=cosine_alpha, sigma_fn=cosine_sigma)}


def make_sde(name):
    try:
        return Registry.get("sde", name, **SDE_PARAMS.get(name, {}))
    except (ValueError, TypeError, KeyError) as err:
        pytest.skip(f"sde {name!r} cannot be built with test parameters: {err}")


def make_noise(name):
    try:
        return Registry.get("noise", name)
    except (ValueError, TypeError, KeyError) as err:
        pytest.skip(f"noise {name!r} cannot be built with its defaults: {err}")
