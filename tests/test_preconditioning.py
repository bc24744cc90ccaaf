"""The EDM parameterization (Karras et al. 2022, Table 1) against its definition and closed-form oracles.

With ``s = alpha(t)``, ``k = sigma(t) / alpha(t)`` and the data std ``sd``: ``c_in = 1 / sqrt(k^2 + sd^2)``,
``c_skip = sd^2 / (k^2 + sd^2)``, ``c_out = k sd / sqrt(k^2 + sd^2)``; the network sees ``c_in x / s`` and
``x0 = c_skip x / s + c_out F``. Its loss is EDM's ``lambda = (k^2 + sd^2) / (k sd)^2`` times the x0 error.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from oracles import CHANNELS, DIM, DTYPE, LENGTH, GaussianProblem, make_noise, make_sde, oracle_network
from tiny import quiet_trainer, tiny_estimator

from gluonts_diffusion import with_sampler
from gluonts_diffusion.core.denoiser import Denoiser, from_eps, to_eps
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t

SIGMA_DATA = (1.0, 0.5, 2.0)


def paper_coefficients(sde, t, sigma_data):
    """``(s, k, c_in, c_skip, c_out)`` (batch,) written as in the paper, independently of ``core.denoiser``."""
    s = sde.alpha(t)
    k = sde.sigma(t) / s
    root = torch.sqrt(k**2 + sigma_data**2)
    return s, k, 1 / root, sigma_data**2 / root**2, k * sigma_data / root


def random_inputs(sde, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = sde.eps + (1 - sde.eps) * torch.rand(n, generator=g, dtype=DTYPE)
    x = 2 * torch.randn(n, LENGTH, CHANNELS, generator=g, dtype=DTYPE)
    return t, x, torch.randn(n, LENGTH, CHANNELS, generator=g, dtype=DTYPE)


# --------------------------------------------------------------------------- (a) the conversions
@pytest.mark.parametrize("sigma_data", SIGMA_DATA)
@pytest.mark.parametrize("sde_name", Registry.list("sde"))
def test_edm_denoiser_is_the_papers_formula_and_round_trips(sde_name, sigma_data):
    sde = make_sde(sde_name)
    t, x, out = random_inputs(sde)
    seen = {}

    def network(x_in, t_in):
        seen["x"], seen["t"] = x_in, t_in
        return out

    denoiser = Denoiser(network, sde, "edm", sigma_data)
    s, _, c_in, c_skip, c_out = (expand_t(c, x) for c in paper_coefficients(sde, t, sigma_data))
    x0 = denoiser.x0(x, t)
    torch.testing.assert_close(seen["x"], c_in * x / s)  # the wrapper scales the input; t is passed unchanged
    assert seen["t"] is t
    torch.testing.assert_close(x0, c_skip * x / s + c_out * out)
    # edm -> x0 -> eps -> edm
    eps = to_eps(x0, x, t, sde, "x0")
    torch.testing.assert_close(denoiser.eps(x, t), eps)
    torch.testing.assert_close(from_eps(eps, x, t, sde, "edm", sigma_data), out)
    torch.testing.assert_close(to_eps(out, x, t, sde, "edm", sigma_data), eps)


def test_edm_with_unit_sigma_data_on_vpsde_is_minus_v_prediction():
    """With ``alpha^2 + sigma^2 = 1`` and ``sd = 1``: ``c_in / s = 1`` and ``F = sigma x0 - alpha eps = -v``
    (Salimans & Ho's v)."""
    sde = make_sde("vpsde")
    t, x, eps = random_inputs(sde)
    alpha, sigma = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
    x0 = (x - sigma * eps) / alpha
    torch.testing.assert_close(from_eps(eps, x, t, sde, "edm"), sigma * x0 - alpha * eps)


# --------------------------------------------------------------------------- (b) the loss and its minimiser
class FixedTime:
    """A ``denoising`` objective with ``parameterization: edm`` whose training time is always ``t``."""

    def __init__(self, t, sigma_data=1.0):
        self.objective = Registry.get("objective", "denoising", parameterization="edm", sigma_data=sigma_data)
        self.objective.sample_time = lambda batch, sde, **kw: torch.full((batch,), t, dtype=kw.get("dtype"))

    def losses(self, network, x0, sde, noise):
        return self.objective.loss(network, x0, torch.ones_like(x0), sde, noise, torch.Generator().manual_seed(5))


def gaussian_x0(data, n, seed=1):
    z = torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
    return (data.mean + z @ torch.linalg.cholesky(data.cov).T).reshape(n, LENGTH, CHANNELS)


def posterior_mse(data, sde, t):
    """``tr Cov[x0 | x_t] / DIM``: the mean squared x0 error of the exact denoiser at time ``t``."""
    a, s = float(sde.alpha(torch.tensor([t]))), float(sde.sigma(torch.tensor([t])))
    k = a * a * data.cov + s * s * data.noise_cov
    return float(torch.trace(data.cov - a * a * data.cov @ torch.linalg.solve(k, data.cov))) / DIM


@pytest.mark.parametrize("sigma_data", SIGMA_DATA)
@pytest.mark.parametrize("t", [0.01, 0.2, 0.6, 1.0])
@pytest.mark.parametrize("sde_name", ["vpsde", "vesde", "subvpsde"])
def test_edm_loss_at_the_exact_denoiser_is_its_closed_form_and_minimal(sde_name, t, sigma_data):
    sde, noise = make_sde(sde_name), make_noise("standard")
    data = GaussianProblem(noise)
    x0 = gaussian_x0(data, 4000)
    case = FixedTime(t, sigma_data)

    def network(delta=0.0, direction=lambda x: torch.ones_like(x)):
        def eps_fn(x, tt):
            eps = data.eps(x, tt, sde)
            return eps + delta * direction(x)

        return oracle_network(eps_fn, sde, "edm", sigma_data)

    best = case.losses(network(), x0, sde, noise)
    _, k, _, _, c_out = paper_coefficients(sde, torch.tensor([t], dtype=DTYPE), sigma_data)
    weight = float((k**2 + sigma_data**2) / (k * sigma_data) ** 2)
    torch.testing.assert_close(weight, 1 / float(c_out) ** 2)
    expected, stderr = weight * posterior_mse(data, sde, t), float(best.std()) / math.sqrt(len(best))
    assert abs(float(best.mean()) - expected) < 4 * stderr, f"{float(best.mean()):.5g} vs {expected:.5g}"
    for delta in (-0.1, 0.1):
        for direction in (lambda x: torch.ones_like(x), lambda x: x, lambda x: torch.sin(3 * x)):
            assert float(case.losses(network(delta, direction), x0, sde, noise).mean()) > float(best.mean())


@pytest.mark.parametrize("sigma_data", SIGMA_DATA)
def test_edm_loss_is_lambda_times_the_x0_error(sigma_data):
    """Per row, for any network: ``loss = lambda(t) * mean (x0_hat - x0)^2`` over the observed entries."""
    sde, noise = make_sde("vpsde"), make_noise("standard")
    data = GaussianProblem(noise)
    x0 = gaussian_x0(data, 64)
    mask = (torch.rand(x0.shape, generator=torch.Generator().manual_seed(2)) > 0.3).to(DTYPE)
    objective = Registry.get("objective", "denoising", parameterization="edm", sigma_data=sigma_data)
    seen = {}

    def network(x_in, t):
        seen["x_in"], seen["t"] = x_in, t
        return torch.sin(2 * x_in) + t[:, None, None]

    loss = objective.loss(network, x0, mask, sde, noise, torch.Generator().manual_seed(3))
    t = seen["t"]
    x_t = seen["x_in"] * expand_t(sde.alpha(t) / paper_coefficients(sde, t, sigma_data)[2], x0)
    x0_hat = Denoiser(network, sde, "edm", sigma_data).x0(x_t, t)
    _, k, _, _, _ = paper_coefficients(sde, t, sigma_data)
    weight = (k**2 + sigma_data**2) / (k * sigma_data) ** 2
    error = ((x0_hat - x0) ** 2 * mask).flatten(1).sum(1) / mask.flatten(1).sum(1)
    torch.testing.assert_close(loss, weight * error)


def test_bad_sigma_data_is_refused():
    for bad in (0.0, -1.0, "one", True):
        with pytest.raises(ValueError) as err:
            Registry.get("objective", "denoising", parameterization="edm", sigma_data=bad)
        assert str(err.value) == f"objective 'denoising': sigma_data must be a number > 0, got {bad!r}"


# --------------------------------------------------------------------------- (c) no shrinkage at low noise
@pytest.mark.parametrize("sde_name", Registry.list("sde"))
def test_a_zero_network_is_the_identity_at_low_noise(sde_name):
    """``c_skip -> 1``, ``c_out -> 0`` as ``k -> 0``: an untrained (zero) network returns ``x / s``, where an
    x0-network returns 0 (total shrinkage)."""
    sde = make_sde(sde_name)
    t, x, _ = random_inputs(sde)
    t = torch.full_like(t, sde.eps)
    zero = lambda x_in, t_in: torch.zeros_like(x_in)  # noqa: E731
    s, k, _, c_skip, c_out = paper_coefficients(sde, t, 1.0)
    assert (1 - c_skip <= k**2).all() and (c_out <= k).all()  # 1 / (1 + k^2) >= 1 - k^2, k / sqrt(1 + k^2) <= k
    x0 = Denoiser(zero, sde, "edm").x0(x, t)
    torch.testing.assert_close(x0, expand_t(c_skip / s, x) * x)
    rel = ((x0 - x / expand_t(s, x)).abs() / (x / expand_t(s, x)).abs()).max()
    assert float(rel) <= float(k.max()) ** 2 + 1e-12
    assert float(Denoiser(zero, sde, "x0").x0(x, t).abs().max()) < 1e-12


# --------------------------------------------------------------------------- samplers and the estimator
@pytest.mark.parametrize("sde_name", ["vpsde", "vesde"])
@pytest.mark.parametrize("sampler_name", Registry.list("sampler"))
def test_every_sampler_gives_the_same_samples_through_edm(sampler_name, sde_name):
    """float64: the same exact denoiser as eps or as edm (two sigma_data) gives the same samples."""
    sde, noise = make_sde(sde_name), make_noise("standard")
    data = GaussianProblem(noise)
    sampler = Registry.get("sampler", sampler_name, num_steps=8)
    outs = []
    for parameterization, sigma_data in (("eps", 1.0), ("edm", 1.0), ("edm", 0.5)):
        eps_fn = lambda x, t: data.eps(x, t, sde)  # noqa: E731
        denoiser = Denoiser(
            oracle_network(eps_fn, sde, parameterization, sigma_data), sde, parameterization, sigma_data
        )
        outs.append(
            sampler(denoiser, (16, LENGTH, CHANNELS), sde, noise, torch.Generator().manual_seed(0), dtype=DTYPE)
        )
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(outs[2], outs[0], rtol=1e-9, atol=1e-9)


def test_tiny_estimator_trains_and_forecasts_with_every_sampler(tmp_path):
    rng = np.random.default_rng(0)
    data = [
        {"start": pd.Period("2021-01-01", "D"), "target": (10 + rng.normal(0, 1, 60).cumsum()).astype(np.float32)}
        for _ in range(4)
    ]
    estimator = tiny_estimator(
        quiet_trainer(tmp_path), freq="D", prediction_length=6, objective_kwargs={"parameterization": "edm"}
    )
    predictor = estimator.train(data)
    assert predictor.prediction_net.model.objective.parameterization == "edm"
    for name in Registry.list("sampler"):
        forecast = next(iter(with_sampler(predictor, name, {"num_steps": 2}).predict(data[:1])))
        assert forecast.samples.shape == (8, 6) and np.isfinite(forecast.samples).all(), name
