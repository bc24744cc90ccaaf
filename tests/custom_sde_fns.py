"""Importable coefficient functions for the ``custom`` SDE tests ("custom_sde_fns:vp_drift" etc.).

They reproduce the VP SDE's linear ``beta`` (beta_min 0.1, beta_max 20) and the VE SDE's geometric
scale, so the numerically integrated marginal can be compared with the closed forms.
"""

import math

import torch

BETA_MIN, BETA_MAX = 0.1, 20.0
SIGMA_MIN, SIGMA_MAX = 0.01, 50.0


def vp_beta(t):
    return BETA_MIN + t * (BETA_MAX - BETA_MIN)


def vp_drift(t):
    return -0.5 * vp_beta(t)


def vp_diffusion(t):
    return torch.sqrt(vp_beta(t))


def vp_alpha(t):
    return torch.exp(-0.25 * t**2 * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN)


def vp_sigma(t):
    return torch.sqrt(-torch.expm1(-0.5 * t**2 * (BETA_MAX - BETA_MIN) - t * BETA_MIN))


def ve_diffusion(t):
    """VE SDE's ``g``; integrated from 0 its variance is ``sigma_min^2 ((sigma_max/sigma_min)^(2t) - 1)``."""
    log_ratio = math.log(SIGMA_MAX / SIGMA_MIN)
    return SIGMA_MIN * torch.exp(t * log_ratio) * math.sqrt(2 * log_ratio)


def ve_alpha(t):
    return 0 * t + 1  # differentiable constant


def ve_sigma(t):
    """Song's VE convention: ``sigma(0) = sigma_min > 0``."""
    return SIGMA_MIN * (SIGMA_MAX / SIGMA_MIN) ** t


def zero(t):
    return torch.zeros_like(t)


def constant_one(t):
    return 1.0


def negative(t):
    return -torch.ones_like(t)


def shrinking_sigma(t):
    """``sigma`` that decreases: no SDE has this marginal."""
    return 1.0 - 0.5 * t


def broken(t):
    raise RuntimeError("boom")


NOT_CALLABLE = 3.0


class SDEHolder:
    """A class: named as a coefficient it is refused (only ``def`` functions are)."""

    def __init__(self, t):
        raise AssertionError("a class named in a config must not be instantiated")
