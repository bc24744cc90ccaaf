"""Shared pieces of the closed-form tests: small Gaussian problems and how to build every SDE and noise."""

import math

import pytest
import torch

from gluonts_diffusion.core.denoiser import Denoiser, from_eps, network_input
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


def registry_cases(kind, configs):
    """``pytest.param(name, params)`` for every component of ``kind``: each parameter set in ``configs[name]``,
    or the defaults for a component registered without an entry."""
    for name in Registry.list(kind):
        for params in configs.get(name, [{}]):
            label = ",".join(f"{k}={v}" for k, v in params.items())
            yield pytest.param(name, params, id=f"{name}[{label}]")


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


class GaussianProblem:
    """Gaussian data ``x0 ~ N(mean, cov)`` over ``(LENGTH, CHANNELS)`` with full covariance, diffused with
    ``noise``: every marginal ``x_t ~ N(alpha mean, alpha^2 cov + sigma^2 Sigma)`` and the exact
    ``E[n | x_t]`` are known in closed form."""

    def __init__(self, noise, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.noise = noise
        self.mean = 0.7 * torch.randn(DIM, generator=g, dtype=DTYPE)
        a = torch.randn(DIM, DIM, generator=g, dtype=DTYPE) / math.sqrt(DIM)
        self.cov = 0.6 * a @ a.T + 0.05 * torch.eye(DIM, dtype=DTYPE)
        self.noise_cov = torch.kron(noise.covariance(LENGTH).to(DTYPE), torch.eye(CHANNELS, dtype=DTYPE))

    def denoiser(self, sde, parameterization="eps"):
        """The exact denoiser, seen through a network with ``parameterization``."""
        network = lambda x, t: from_eps(self.eps(x, t, sde), x, t, sde, parameterization)  # noqa: E731
        return Denoiser(network, sde, parameterization)

    def marginal(self, sde, t):
        """Mean and covariance of ``x_t`` at the scalar time ``t``."""
        tt = torch.tensor([float(t)], dtype=DTYPE)
        a, s = float(sde.alpha(tt)), float(sde.sigma(tt))
        return a * self.mean, a * a * self.cov + s * s * self.noise_cov

    def eps(self, x, t, sde):
        """``E[n | x_t = x]`` for per-row times ``t`` (batch,)."""
        xf = x.reshape(x.shape[0], DIM)
        if bool((t == t[0]).all()):  # one time for the batch: one solve
            a, s = float(sde.alpha(t[:1])), float(sde.sigma(t[:1]))
            k = a * a * self.cov + s * s * self.noise_cov
            out = (xf - a * self.mean) @ (s * self.noise_cov @ torch.linalg.inv(k)).T
        else:
            a, s = sde.alpha(t).to(x)[:, None], sde.sigma(t).to(x)[:, None]
            k = a[..., None] ** 2 * self.cov + s[..., None] ** 2 * self.noise_cov
            out = s * torch.linalg.solve(k, (xf - a * self.mean).unsqueeze(-1)).squeeze(-1) @ self.noise_cov.T
        return out.reshape(x.shape)


class SpreadProblem(GaussianProblem):
    """Independent coordinates whose data std goes geometrically from ``prior std`` down to ``low`` times it:
    at a few steps a sampler that over-smooths the last steps shrinks the small stds first."""

    def __init__(self, noise, sde, low=0.01):
        self.noise = noise
        scale = sde.prior_std()
        stds = scale * torch.logspace(0.0, math.log10(low), DIM, dtype=DTYPE)
        self.mean = 0.5 * stds
        self.cov = torch.diag(stds**2)
        self.noise_cov = torch.kron(noise.covariance(LENGTH).to(DTYPE), torch.eye(CHANNELS, dtype=DTYPE))


def oracle_network(eps_fn, sde, parameterization, sigma_data=1.0):
    """The network ``net(x_in, t)`` whose denoiser is ``eps_fn(x, t)``: it undoes the input preconditioning
    (``x_in = c_in x / alpha`` for "edm", ``x`` otherwise) and outputs ``eps`` as ``parameterization``."""

    def net(x_in, t):
        x = x_in / network_input(torch.ones_like(x_in), t, sde, parameterization, sigma_data)
        return from_eps(eps_fn(x, t), x, t, sde, parameterization, sigma_data)

    return net
