"""Every registered objective against the closed-form optimal denoiser on Gaussian data.

With ``x0 ~ N(m, C)`` and ``x_t = alpha x0 + sigma n`` (``n ~ N(0, S)``, ``S`` the noise covariance over
time, iid over channels), ``E[n | x_t] = sigma S K_t^{-1} (x_t - alpha m)`` with
``K_t = alpha^2 C + sigma^2 S``. Whatever it parameterizes, an objective's expected loss must be
stationary at (and minimised by) this denoiser converted by ``core.denoiser.from_eps``.
"""

import math
from typing import get_args

import pytest
import torch
from oracles import (
    CHANNELS,
    DIM,
    DTYPE,
    LENGTH,
    GaussianProblem,
    make_noise,
    make_sde,
    oracle_network,
    registry_cases,
)

from gluonts_diffusion.core.denoiser import Denoiser, Parameterization, from_eps, to_eps
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t

BATCH = 2000


class GaussianData(GaussianProblem):
    """Gaussian data over ``(LENGTH, CHANNELS)`` with full covariance, and its exact denoiser."""

    def sample(self, n, seed=1):
        z = torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
        return (self.mean + z @ torch.linalg.cholesky(self.cov).T).reshape(n, LENGTH, CHANNELS)

    def nll_per_point(self, x0):
        d = x0.reshape(-1, DIM) - self.mean
        quad = (d @ torch.linalg.inv(self.cov) * d).sum(1)
        return 0.5 * (quad + torch.logdet(2 * math.pi * self.cov)) / DIM

    def network(self, sde, parameterization, delta=0.0, direction="nonlinear", sigma_data=1.0):
        """The optimal network for ``parameterization``, optionally moved by ``delta`` along a direction in eps."""

        def eps_fn(x, t):
            eps = self.eps(x, t, sde)
            if delta:
                eps = eps + delta * DIRECTIONS[direction](x, eps)
            return eps

        return oracle_network(eps_fn, sde, parameterization, sigma_data)


#: perturbations of the optimal noise prediction ``eps`` at ``x``: a bias, a rescaling of the denoiser,
#: a linear and a nonlinear function of ``x`` (a wrong target shows up along at least one of them)
DIRECTIONS = {
    "bias": lambda x, eps: torch.ones_like(x),
    "scale": lambda x, eps: eps,
    "linear": lambda x, eps: x,
    "nonlinear": lambda x, eps: 0.5 + 0.5 * torch.sin(3 * x),
}

#: parameter sets per objective; an objective registered later is tested with its defaults
OBJECTIVE_CONFIGS = {
    "denoising": [dict(parameterization=p) for p in ("eps", "x0", "velocity", "edm")]
    + [dict(parameterization="edm", sigma_data=0.5)],
    "score_matching": [dict(loss_weight=w) for w in ("sigma2", "likelihood", "uniform")],
    "variational_bound": [dict(importance_sampling=True), dict(importance_sampling=False)],
}


OBJECTIVE_CASES = list(registry_cases("objective", OBJECTIVE_CONFIGS))
NOISE_NAMES = Registry.list("noise")


def losses(objective, network, x0, mask, sde, noise, seed=7):
    """Per-row losses with a fixed generator: every call sees the same times and noise."""
    return objective.loss(network, x0, mask, sde, noise, torch.Generator().manual_seed(seed))


def relative_slope(objective, data, sde, x0, mask, at, direction="nonlinear", h=0.05):
    """Per-row ``slope / (loss + curvature)`` along a perturbation of the denoiser at ``delta = at``.

    Every objective here has per-row loss ``w(t) ||A (r + delta k(t) u)||^2`` with ``r`` the residual of
    the prediction at ``at``, ``u`` the direction and ``w``, ``k`` its time weighting and
    parameterization factor. The ratio cancels ``w k^2`` (which makes the raw slope heavy-tailed) and
    leaves ``2 <A r, A u> / (||A r||^2 + ||A u||^2)``, bounded by 1 in absolute value. At the optimum
    ``r`` given ``x_t`` is a centred Gaussian, symmetric under ``r -> -r``, so this has mean zero; any
    other denoiser or target biases it.
    """
    values = [
        losses(
            objective,
            data.network(sde, objective.parameterization, at + d, direction, objective.sigma_data),
            x0,
            mask,
            sde,
            data.noise,
        )
        for d in (-h, 0.0, h)
    ]
    slope = (values[2] - values[0]) / (2 * h)
    curvature = (values[2] + values[0] - 2 * values[1]) / (2 * h * h)
    assert (curvature >= 0).all(), "the loss must be convex along the perturbation"
    return slope / (values[1] + curvature).clamp_min(1e-300)


def mean_and_stderr(values):
    return float(values.mean()), float(values.std()) / math.sqrt(values.numel())


def check_minimised(name, params, sde, noise):
    objective = Registry.get("objective", name, **params)
    reason = objective.check_compatibility({"sde": sde, "noise": noise})
    if reason:
        pytest.skip(reason)
    data = GaussianData(noise)
    x0 = data.sample(BATCH)
    mask = torch.ones_like(x0)
    for direction in DIRECTIONS:
        mean, stderr = mean_and_stderr(relative_slope(objective, data, sde, x0, mask, 0.0, direction))
        assert abs(mean) < 4 * stderr and stderr < 0.1, f"not stationary along {direction}: {mean:.3g} +- {stderr:.3g}"
    # power: half-way to a wrong denoiser the slope is clearly positive
    mean, stderr = mean_and_stderr(relative_slope(objective, data, sde, x0, mask, 0.5))
    assert mean > 4 * stderr
    base = losses(
        objective, data.network(sde, objective.parameterization, sigma_data=objective.sigma_data), x0, mask, sde, noise
    )
    assert base.shape == (BATCH,) and torch.isfinite(base).all() and (base >= 0).all()


@pytest.mark.parametrize("sde_name", Registry.list("sde"))
@pytest.mark.parametrize("name,params", OBJECTIVE_CASES)
def test_optimal_denoiser_minimises_the_loss(name, params, sde_name):
    check_minimised(name, params, make_sde(sde_name), make_noise("standard"))


@pytest.mark.parametrize("noise_name", [n for n in NOISE_NAMES if n != "standard"])
@pytest.mark.parametrize("name,params", OBJECTIVE_CASES)
def test_optimal_denoiser_minimises_the_loss_with_correlated_noise(name, params, noise_name):
    check_minimised(name, params, make_sde("vpsde"), make_noise(noise_name))


@pytest.mark.parametrize("noise_name", NOISE_NAMES)
@pytest.mark.parametrize("name,params", OBJECTIVE_CASES)
def test_unobserved_entries_do_not_count(name, params, noise_name):
    objective = Registry.get("objective", name, **params)
    sde, noise = make_sde("vpsde"), make_noise(noise_name)
    data = GaussianData(noise)
    x0 = data.sample(64)
    mask = (torch.rand(x0.shape, generator=torch.Generator().manual_seed(2)) > 0.3).to(DTYPE)
    mask[0] = 0  # a fully unobserved row
    good = data.network(sde, objective.parameterization, sigma_data=objective.sigma_data)
    bad = lambda x, t: good(x, t) + 5.0 * (1 - mask)  # noqa: E731 - wrong only where unobserved
    torch.testing.assert_close(
        losses(objective, bad, x0, mask, sde, noise), losses(objective, good, x0, mask, sde, noise)
    )
    assert float(losses(objective, good, x0, mask, sde, noise)[0]) == 0.0


# --------------------------------------------------------------------------- parameterizations
@pytest.mark.parametrize("sde_name", Registry.list("sde"))
@pytest.mark.parametrize("parameterization", get_args(Parameterization))
def test_parameterizations_round_trip(parameterization, sde_name):
    sde = make_sde(sde_name)
    g = torch.Generator().manual_seed(0)
    t = sde.eps + (1 - sde.eps) * torch.rand(16, generator=g, dtype=DTYPE)
    x = torch.randn(16, LENGTH, CHANNELS, generator=g, dtype=DTYPE)
    eps = torch.randn(16, LENGTH, CHANNELS, generator=g, dtype=DTYPE)
    out = from_eps(eps, x, t, sde, parameterization)
    torch.testing.assert_close(to_eps(out, x, t, sde, parameterization), eps)
    # the denoiser layer built on that output agrees with the direct formulas
    denoiser = Denoiser(lambda x_, t_: out, sde, parameterization)
    alpha, sigma = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
    d_alpha, d_sigma = expand_t(sde.d_alpha(t), x), expand_t(sde.d_sigma(t), x)
    x0 = (x - sigma * eps) / alpha
    torch.testing.assert_close(denoiser.eps(x, t), eps)
    torch.testing.assert_close(denoiser.x0(x, t), x0)
    torch.testing.assert_close(denoiser.score(x, t), -eps / sigma)
    torch.testing.assert_close(denoiser.velocity(x, t), d_alpha * x0 + d_sigma * eps)


def test_flow_matching_target_is_the_path_velocity():
    """``v = alpha' x0 + sigma' n``: for a network given as noise, the loss is ``(sigma' - alpha' sigma/alpha)^2`` times MSE."""
    sde, noise = make_sde("vpsde"), make_noise("standard")
    data = GaussianData(noise)
    x0 = data.sample(256)
    mask = torch.ones_like(x0)
    seen = {}

    def eps_net(x, t):
        seen["t"] = t
        return data.eps(x, t, sde) + 0.1

    velocity_net = lambda x, t: from_eps(eps_net(x, t), x, t, sde, "velocity")  # noqa: E731
    flow = losses(Registry.get("objective", "flow_matching"), velocity_net, x0, mask, sde, noise)
    t = seen["t"]
    mse = losses(Registry.get("objective", "denoising", parameterization="eps"), eps_net, x0, mask, sde, noise)
    factor = (sde.d_sigma(t) - sde.d_alpha(t) * sde.sigma(t) / sde.alpha(t)) ** 2
    torch.testing.assert_close(flow, factor * mse)


def test_flow_matching_is_denoising_with_velocity_parameterization():
    sde, noise = make_sde("vpsde"), make_noise("standard")
    data = GaussianData(noise)
    x0 = data.sample(64)
    net = data.network(sde, "velocity", delta=0.1)
    flow, denoising = (
        Registry.get("objective", "flow_matching"),
        Registry.get("objective", "denoising", parameterization="velocity"),
    )
    assert flow.parameterization == denoising.parameterization == "velocity"
    torch.testing.assert_close(
        losses(flow, net, x0, torch.ones_like(x0), sde, noise),
        losses(denoising, net, x0, torch.ones_like(x0), sde, noise),
        rtol=0,
        atol=0,
    )


# --------------------------------------------------------------------------- weightings and the bound
def perturbed_networks(sde, noise):
    """256 fully observed rows of Gaussian data, a noise network 0.2 away from the optimum, and its score form."""
    data = GaussianData(noise)
    x0 = data.sample(256)
    net = data.network(sde, "eps", delta=0.2)
    return x0, torch.ones_like(x0), net, lambda x, t: from_eps(net(x, t), x, t, sde, "score")


@pytest.mark.parametrize("noise_name", NOISE_NAMES)
def test_sigma2_score_matching_is_noise_prediction(noise_name):
    sde, noise = make_sde("vpsde"), make_noise(noise_name)
    x0, mask, net, score_net = perturbed_networks(sde, noise)
    sm = losses(Registry.get("objective", "score_matching", loss_weight="sigma2"), score_net, x0, mask, sde, noise)
    if noise_name == "standard":  # plain MSE on the noise = the DDPM objective
        torch.testing.assert_close(
            sm, losses(Registry.get("objective", "denoising", parameterization="eps"), net, x0, mask, sde, noise)
        )
    else:  # the same in the whitened metric
        white = lambda x, t: noise.whiten(net(x, t))  # noqa: E731
        seen = {}

        def record(x, t):
            seen["x"], seen["t"] = x, t
            return score_net(x, t)

        losses(Registry.get("objective", "score_matching", loss_weight="sigma2"), record, x0, mask, sde, noise)
        x_t, t = seen["x"], seen["t"]
        n = (x_t - expand_t(sde.alpha(t), x_t) * x0) / expand_t(sde.sigma(t), x_t)
        expected = (white(x_t, t) - noise.whiten(n)).pow(2).flatten(1).mean(1)
        torch.testing.assert_close(sm, expected)


@pytest.mark.parametrize("sde_name", Registry.list("sde"))
def test_likelihood_weighting_is_the_variational_bound(sde_name):
    """Song et al.'s ``g^2`` weighting equals VDM's ``-d log SNR/dt`` weighting (times the time range)."""
    sde = make_sde(sde_name)
    noise = make_noise("correlated") if "correlated" in NOISE_NAMES else make_noise("standard")
    x0, mask, net, score_net = perturbed_networks(sde, noise)
    sm = losses(Registry.get("objective", "score_matching", loss_weight="likelihood"), score_net, x0, mask, sde, noise)
    vb = losses(Registry.get("objective", "variational_bound", importance_sampling=False), net, x0, mask, sde, noise)
    torch.testing.assert_close(vb, (1 - sde.eps) * sm, rtol=1e-4, atol=1e-8)


def test_variational_bound_time_samplings_agree():
    """Importance sampling in log-SNR and uniform time sampling estimate the same integral."""
    sde, noise = make_sde("vesde"), make_noise("standard")
    data = GaussianData(noise)
    x0 = data.sample(BATCH)
    mask = torch.ones_like(x0)
    net = data.network(sde, "eps")
    means, errors = [], []
    for importance in (True, False):
        objective = Registry.get("objective", "variational_bound", importance_sampling=importance)
        values = losses(objective, net, x0, mask, sde, noise)
        means.append(float(values.mean()))
        errors.append(float(values.std()) / math.sqrt(BATCH))
    assert abs(means[0] - means[1]) < 4 * math.hypot(*errors)


@pytest.mark.parametrize(
    "sde_name,noise_name",
    [(sde, "standard") for sde in Registry.list("sde")] + [("vpsde", n) for n in NOISE_NAMES if n != "standard"],
)
def test_nll_bound_is_tight_for_the_optimal_denoiser(sde_name, noise_name):
    """The ELBO with the exact denoiser equals the true NLL up to MC, quadrature and end-point errors."""
    sde, noise = make_sde(sde_name), make_noise(noise_name)
    objective = Registry.get("objective", "variational_bound")
    if objective.check_compatibility({"sde": sde, "noise": noise}):
        pytest.skip(objective.check_compatibility({"sde": sde, "noise": noise}))
    data = GaussianData(noise)
    x0 = data.sample(1000)
    nll = data.nll_per_point(x0)

    def bound(network):
        return objective.nll_bound(network, x0, None, sde, noise, num_t=48, generator=torch.Generator().manual_seed(3))

    gap = bound(data.network(sde, "eps")) - nll
    stderr = float(gap.std()) / math.sqrt(len(gap))
    assert -4 * stderr < float(gap.mean()) < 4 * stderr + 0.02, f"gap {float(gap.mean()):.4f} +- {stderr:.4f}"
    worse = bound(data.network(sde, "eps", delta=0.3)) - nll
    assert float(worse.mean()) > float(gap.mean()) + 0.01


def test_nll_bound_with_missing_values():
    sde, noise = make_sde("vpsde"), make_noise("standard")
    data = GaussianData(noise)
    x0 = data.sample(32)
    mask = torch.ones_like(x0)
    mask[:, 0] = 0
    objective = Registry.get("objective", "variational_bound")
    out = objective.nll_bound(data.network(sde, "eps"), x0 * mask, mask, sde, noise, num_t=8)
    assert out.shape == (32,) and torch.isfinite(out).all()


# --------------------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "name,params,word",
    [
        ("score_matching", dict(loss_weight="snr"), "loss_weight"),
        ("variational_bound", dict(importance_sampling="yes"), "importance_sampling"),
    ],
)
def test_bad_parameters_raise(name, params, word):
    with pytest.raises(ValueError, match=word):
        Registry.get("objective", name, **params)


def test_nll_bound_rejects_bad_num_t():
    sde, noise = make_sde("vpsde"), make_noise("standard")
    data = GaussianData(noise)
    with pytest.raises(ValueError, match="num_t"):
        Registry.get("objective", "variational_bound").nll_bound(
            data.network(sde, "eps"), data.sample(4), None, sde, noise, num_t=0
        )


@pytest.mark.parametrize("name,params", OBJECTIVE_CASES)
def test_parameterization_attribute_and_float32(name, params):
    objective = Registry.get("objective", name, **params)
    assert objective.parameterization in get_args(Parameterization)
    sde, noise = make_sde("vpsde"), make_noise("standard")
    data = GaussianData(noise)
    x0 = data.sample(32).float()
    optimal = data.network(sde, objective.parameterization, sigma_data=objective.sigma_data)
    net = lambda x, t: optimal(x.double(), t.double()).float()  # noqa: E731
    out = objective.loss(net, x0, torch.ones_like(x0), sde, noise, torch.Generator().manual_seed(0))
    assert out.shape == (32,) and out.dtype == torch.float32 and torch.isfinite(out).all()
