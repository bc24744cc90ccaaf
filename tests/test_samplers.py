"""Every registered sampler against closed-form oracles on Gaussian data.

With data ``x0 ~ N(m, C)`` (flattened over time x channels) the marginal at ``t`` is
``N(alpha m, alpha^2 C + sigma^2 S)`` (``S`` = the noise covariance over time, iid over channels) and
the exact noise prediction is ``eps*(x, t) = sigma S K_t^{-1} (x - alpha m)``. Samplers are started
from the exact marginal at ``t = 1`` and compared with the exact marginal at ``t = eps``, so only
their discretization error is measured. A deterministic sampler is affine in its start on this
problem, so its output law is computed exactly by pushing ``D + 1`` points; stochastic ones are
checked by Monte Carlo. The error measure is the Gaussian KL(output || target).
"""

import math

import pytest
import torch
from oracles import CHANNELS, DIM, DTYPE, LENGTH, GaussianProblem, make_noise, make_sde, registry_cases

from gluonts_diffusion.core.base import BaseSDE
from gluonts_diffusion.core.denoiser import Denoiser
from gluonts_diffusion.core.registry import Registry


class LinearPath(BaseSDE):
    """``alpha = 1 - t``, ``sigma = t`` (rectified flow): alpha(1) = 0, so x / alpha is undefined at t = 1."""

    def alpha(self, t):
        return 1 - t

    def sigma(self, t):
        return t


# --------------------------------------------------------------------------- the oracle
class GaussianOracle(GaussianProblem):
    """Gaussian data over ``(LENGTH, CHANNELS)`` with full covariance; exact eps at every t."""

    def sample(self, n, sde, t, generator):
        mean, cov = self.marginal(sde, t)
        z = torch.randn(n, DIM, generator=generator, dtype=DTYPE)
        return (mean + z @ torch.linalg.cholesky(cov).T).reshape(n, LENGTH, CHANNELS)


def gaussian_kl(mean1, cov1, mean0, cov0):
    """KL(N(mean1, cov1) || N(mean0, cov0))."""
    inv0 = torch.linalg.inv(cov0)
    d = mean0 - mean1
    return 0.5 * float(
        torch.trace(inv0 @ cov1) + d @ inv0 @ d - mean0.numel() + torch.logdet(cov0) - torch.logdet(cov1)
    )


def is_stochastic(sampler, oracle, sde):
    x = oracle.sample(3, sde, 1.0, torch.Generator().manual_seed(0))
    outs = [
        sampler.sample(oracle.denoiser(sde), x.clone(), sde, oracle.noise, torch.Generator().manual_seed(seed))
        for seed in (1, 2)
    ]
    return not torch.equal(outs[0], outs[1])


def sampler_error(sampler, oracle, sde, mc=4000, seed=1, stochastic=None):
    """(KL of the output law from the exact marginal at eps, network calls per path)."""
    gen = torch.Generator().manual_seed(seed)
    denoiser = oracle.denoiser(sde)
    mean1, cov1 = oracle.marginal(sde, 1.0)
    mean0, cov0 = oracle.marginal(sde, sde.eps)
    if stochastic is None:
        stochastic = is_stochastic(sampler, oracle, sde)
    if stochastic:
        out = sampler.sample(denoiser, oracle.sample(mc, sde, 1.0, gen), sde, oracle.noise, gen).reshape(mc, DIM)
        mean, cov = out.mean(0), torch.cov(out.T)
    else:  # affine map: push the mean and the columns of a square root of the covariance
        start = torch.cat([mean1[None], mean1[None] + torch.linalg.cholesky(cov1).T])
        out = sampler.sample(denoiser, start.reshape(-1, LENGTH, CHANNELS), sde, oracle.noise, gen)
        out = out.reshape(-1, DIM)
        mean, cov = out[0], (out[1:] - out[0]).T @ (out[1:] - out[0])
    return gaussian_kl(mean, cov, mean0, cov0), denoiser.calls


def refusal(sampler, components):
    """Why the sampler and the other components cannot run together, from either side."""
    reason = sampler.check_compatibility(components)
    for component in components.values():
        reason = reason or component.check_compatibility({**components, "sampler": sampler})
    return reason


# --------------------------------------------------------------------------- configurations
#: accurate settings per sampler; a sampler registered later is tested with its defaults
SAMPLER_CONFIGS = {
    "ddim": [dict(num_steps=200), dict(num_steps=250, eta=1.0)],
    "euler": [dict(num_steps=1000, probability_flow=True), dict(num_steps=200)],
    "heun": [dict(num_steps=40)],
    "dpm": [dict(num_steps=25, order=o, algorithm=a) for o in (2, 3) for a in ("dpmsolver", "dpmsolver++")],
    "pc": [dict(num_steps=100), dict(num_steps=100, predictor="euler", corrector_steps=2)],
}
DETERMINISTIC_TOL = 5e-3  # exact output law: pure discretization error
STOCHASTIC_TOL = 0.03  # Monte Carlo with 4000 paths: the estimate alone carries ~5e-3


SAMPLER_CASES = list(registry_cases("sampler", SAMPLER_CONFIGS))
#: for the noise tests: drop the slow first-order deterministic runs, whose noise enters only via the network
NOISE_CASES = [
    case for case in SAMPLER_CASES if not (case.values[1].get("probability_flow") or case.id == "ddim[num_steps=200]")
]


@pytest.mark.parametrize("sde_name", Registry.list("sde"))
@pytest.mark.parametrize("name,params", SAMPLER_CASES)
def test_sampler_reproduces_gaussian_data(name, params, sde_name):
    sde = make_sde(sde_name)
    noise = make_noise("standard")
    sampler = Registry.get("sampler", name, **params)
    reason = refusal(sampler, {"sde": sde, "noise": noise})
    if reason:
        pytest.skip(reason)
    oracle = GaussianOracle(noise)
    stochastic = is_stochastic(sampler, oracle, sde)
    kl, calls = sampler_error(sampler, oracle, sde, stochastic=stochastic)
    assert calls == sampler.nfe, f"nfe reports {sampler.nfe} but the sampler made {calls} network calls"
    assert kl < (STOCHASTIC_TOL if stochastic else DETERMINISTIC_TOL), f"KL {kl:.3g}"


@pytest.mark.parametrize("noise_name", [n for n in Registry.list("noise") if n != "standard"])
@pytest.mark.parametrize("name,params", NOISE_CASES)
def test_sampler_respects_correlated_noise(name, params, noise_name):
    """The output covariance is right only if every increment is drawn from the noise component."""
    sde = make_sde("vpsde")
    noise = make_noise(noise_name)
    sampler = Registry.get("sampler", name, **params)
    reason = refusal(sampler, {"sde": sde, "noise": noise})
    if reason:
        pytest.skip(reason)
    oracle = GaussianOracle(noise, seed=3)
    stochastic = is_stochastic(sampler, oracle, sde)
    kl, _ = sampler_error(sampler, oracle, sde, stochastic=stochastic)
    assert kl < (STOCHASTIC_TOL if stochastic else DETERMINISTIC_TOL), f"KL {kl:.3g}"


# --------------------------------------------------------------------------- efficiency
LADDER = [5, 7, 10, 14, 20, 28, 40, 56, 80, 113, 160, 226, 320, 452, 640, 905, 1280]
TARGET_KL = 1e-4


def nfe_to_reach(name, params, sde, oracle, target=TARGET_KL):
    """Fewest network evaluations on the step ladder whose exact output law is within ``target``."""
    for steps in LADDER:
        sampler = Registry.get("sampler", name, num_steps=steps, **params)
        kl, calls = sampler_error(sampler, oracle, sde, stochastic=False)
        if kl <= target:
            return calls
    return math.inf


@pytest.mark.parametrize("sde_name", ["vpsde", "vesde"])
def test_higher_order_samplers_need_fewer_evaluations(sde_name):
    sde = make_sde(sde_name)
    oracle = GaussianOracle(make_noise("standard"))
    first = {
        "euler (probability flow)": nfe_to_reach("euler", dict(probability_flow=True), sde, oracle),
        "ddim": nfe_to_reach("ddim", {}, sde, oracle),
    }
    higher = {"heun": nfe_to_reach("heun", {}, sde, oracle)}
    for order in (2, 3):
        for algorithm in ("dpmsolver", "dpmsolver++"):
            higher[f"{algorithm}-{order}"] = nfe_to_reach("dpm", dict(order=order, algorithm=algorithm), sde, oracle)
    best_first = min(first.values())
    for label, nfe in higher.items():
        assert nfe < best_first, f"{label} needs {nfe} NFE for KL <= {TARGET_KL}; first order: {first}"
    # third order beats second order (the multistep extrapolation is doing its job)
    assert higher["dpmsolver++-3"] <= higher["dpmsolver++-2"]


@pytest.mark.parametrize("algorithm", ["dpmsolver", "dpmsolver++"])
def test_dpm_convergence_order(algorithm):
    """Doubling the steps divides the error (sqrt KL) by about 4 or more, and order 3 beats order 2.

    The multistep solver warms up with a first-order step (as Lu et al.'s reference code), whose local
    error O(h^2) caps the asymptotic global order at 2 even for ``order=3``; order 3 still has the
    smaller error constant.
    """
    sde = make_sde("vpsde")
    oracle = GaussianOracle(make_noise("standard"))
    errors = {
        (order, n): math.sqrt(
            sampler_error(Registry.get("sampler", "dpm", num_steps=n, order=order, algorithm=algorithm), oracle, sde)[0]
        )
        for order in (1, 2, 3)
        for n in (40, 80)
    }
    assert 1.7 < errors[1, 40] / errors[1, 80] < 2.3  # first order (DDIM)
    for order in (2, 3):
        assert errors[order, 40] / errors[order, 80] > 2**1.5
    assert errors[3, 40] < errors[2, 40] and errors[3, 80] < errors[2, 80]


def test_heun_is_second_order():
    sde = make_sde("vpsde")
    oracle = GaussianOracle(make_noise("standard"))
    errors = [math.sqrt(sampler_error(Registry.get("sampler", "heun", num_steps=n), oracle, sde)[0]) for n in (40, 80)]
    assert errors[0] / errors[1] > 2**1.5


# --------------------------------------------------------------------------- identities
@pytest.mark.parametrize("sde_name", Registry.list("sde"))
@pytest.mark.parametrize("time_grid", Registry.list("time_grid"))
@pytest.mark.parametrize("algorithm", ["dpmsolver", "dpmsolver++"])
def test_ddim_equals_first_order_dpm_solver(sde_name, time_grid, algorithm):
    sde = make_sde(sde_name)
    noise = make_noise("standard")
    oracle = GaussianOracle(noise)
    ddim = Registry.get("sampler", "ddim", num_steps=12, time_grid=time_grid)
    dpm = Registry.get("sampler", "dpm", num_steps=12, order=1, algorithm=algorithm, time_grid=time_grid)
    if refusal(dpm, {"sde": sde, "noise": noise}):
        pytest.skip(refusal(dpm, {"sde": sde, "noise": noise}))
    x = oracle.sample(64, sde, 1.0, torch.Generator().manual_seed(0))
    a = ddim.sample(oracle.denoiser(sde), x.clone(), sde, noise)
    b = dpm.sample(oracle.denoiser(sde), x.clone(), sde, noise)
    scale = float(a.abs().max())
    assert float((a - b).abs().max()) < 1e-6 * max(1.0, scale)


def test_heun_single_step_is_ddim():
    """With one step Heun is a single Euler step in (x/alpha, sigma/alpha): exactly DDIM."""
    sde = make_sde("vpsde")
    noise = make_noise("standard")
    oracle = GaussianOracle(noise)
    x = oracle.sample(16, sde, 1.0, torch.Generator().manual_seed(0))
    heun = Registry.get("sampler", "heun", num_steps=1)
    ddim = Registry.get("sampler", "ddim", num_steps=1, time_grid="logsnr")
    torch.testing.assert_close(
        heun.sample(oracle.denoiser(sde), x.clone(), sde, noise),
        ddim.sample(oracle.denoiser(sde), x.clone(), sde, noise),
    )


@pytest.mark.parametrize("name,params", SAMPLER_CASES)
def test_nfe_and_reproducibility(name, params):
    """``nfe`` is the true number of network calls; a seeded generator makes sampling reproducible."""
    sde = make_sde("vpsde")
    noise = make_noise("standard")
    oracle = GaussianOracle(noise)
    params = {**params, "num_steps": 7}
    sampler = Registry.get("sampler", name, **params)
    outs = []
    for _ in range(2):
        denoiser = oracle.denoiser(sde)
        out = sampler(
            denoiser, (5, LENGTH, CHANNELS), sde, noise, generator=torch.Generator().manual_seed(4), dtype=DTYPE
        )
        assert denoiser.calls == sampler.nfe
        assert out.shape == (5, LENGTH, CHANNELS) and torch.isfinite(out).all()
        outs.append(out)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


@pytest.mark.parametrize("name,params", SAMPLER_CASES)
def test_float32(name, params):
    sde = make_sde("vpsde")
    oracle = GaussianOracle(make_noise("standard"))
    sampler = Registry.get("sampler", name, **{**params, "num_steps": 20})
    network = lambda x, t: oracle.eps(x.double(), t.double(), sde).to(x.dtype)  # noqa: E731
    out = sampler(Denoiser(network, sde), (8, LENGTH, CHANNELS), sde, oracle.noise, torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


@pytest.mark.parametrize("parameterization", ["eps", "x0", "score", "velocity"])
def test_samplers_agree_across_parameterizations(parameterization):
    """A network trained for any parameterization gives the same samples through the denoiser layer."""
    sde = make_sde("vpsde")
    noise = make_noise("standard")
    oracle = GaussianOracle(noise)
    x = oracle.sample(32, sde, 1.0, torch.Generator().manual_seed(0))
    sampler = Registry.get("sampler", "dpm", num_steps=15, order=3)
    reference = sampler.sample(oracle.denoiser(sde, "eps"), x.clone(), sde, noise)
    out = sampler.sample(oracle.denoiser(sde, parameterization), x.clone(), sde, noise)
    torch.testing.assert_close(out, reference, rtol=1e-7, atol=1e-7)


# --------------------------------------------------------------------------- compatibility and parameters
@pytest.mark.parametrize("name", ["ddim", "dpm", "heun"])
def test_log_snr_samplers_refuse_paths_with_vanishing_alpha(name):
    sampler = Registry.get("sampler", name)
    reason = sampler.check_compatibility({"sde": LinearPath(eps=1e-3)})
    assert isinstance(reason, str) and "alpha" in reason
    assert sampler.check_compatibility({"sde": make_sde("vpsde")}) is None
    assert sampler.check_compatibility({"sde": make_sde("vesde")}) is None
    assert isinstance(type(sampler).compatibility, str)


@pytest.mark.parametrize(
    "name,params,word",
    [
        ("dpm", dict(order=4), "order"),
        ("dpm", dict(order=0), "order"),
        ("dpm", dict(algorithm="unipc"), "algorithm"),
        ("dpm", dict(time_grid="cosine"), "time_grid"),
        ("heun", dict(num_steps=0), "num_steps"),
        ("pc", dict(snr=-0.1), "snr"),
        ("pc", dict(corrector_steps=-1), "corrector_steps"),
        ("pc", dict(predictor="ode"), "predictor"),
    ],
)
def test_bad_parameters_raise(name, params, word):
    with pytest.raises(ValueError, match=word):
        Registry.get("sampler", name, **params)


def test_dpm_step_orders():
    """Warm-up from order 1; with fewer than 10 steps the final steps lower the order (Lu et al.)."""
    short = Registry.get("sampler", "dpm", num_steps=6, order=3)
    assert [short.step_order(i) for i in range(6)] == [1, 2, 3, 3, 2, 1]
    long = Registry.get("sampler", "dpm", num_steps=12, order=3)
    assert [long.step_order(i) for i in range(12)] == [1, 2] + [3] * 10
    plain = Registry.get("sampler", "dpm", num_steps=6, order=3, lower_order_final=False)
    assert [plain.step_order(i) for i in range(6)] == [1, 2, 3, 3, 3, 3]


def test_sampling_from_the_prior_recovers_the_data():
    """End to end through ``__call__`` (prior draw included) on the VP SDE, whose prior is nearly exact."""
    sde = make_sde("vpsde")
    oracle = GaussianOracle(make_noise("standard"))
    sampler = Registry.get("sampler", "dpm", num_steps=30, order=3)
    out = sampler(
        oracle.denoiser(sde),
        (4000, LENGTH, CHANNELS),
        sde,
        oracle.noise,
        torch.Generator().manual_seed(0),
        dtype=DTYPE,
    )
    out = out.reshape(-1, DIM)
    mean0, cov0 = oracle.marginal(sde, sde.eps)
    assert gaussian_kl(out.mean(0), torch.cov(out.T), mean0, cov0) < STOCHASTIC_TOL
