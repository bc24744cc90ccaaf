"""Forward SDEs: closed forms, Monte-Carlo agreement with the SDE, coefficient consistency, log-SNR, prior."""

import math
import pickle

import numpy as np
import pytest
import torch
from scipy import stats

from gluonts_diffusion import Registry
from gluonts_diffusion.core.denoiser import Denoiser
from gluonts_diffusion.core.tensors import time_derivative
from gluonts_diffusion.trust import allowed_imports

try:  # `python -m pytest` from the repo root
    from tests import custom_sde_fns
except ImportError:  # plain `pytest`: tests/ itself is on sys.path
    import custom_sde_fns

FNS = custom_sde_fns.__name__
B_MIN, B_MAX = custom_sde_fns.BETA_MIN, custom_sde_fns.BETA_MAX
S_MIN, S_MAX = custom_sde_fns.SIGMA_MIN, custom_sde_fns.SIGMA_MAX

#: parameters for registered SDEs that cannot be built with their defaults
REQUIRED = {"custom": {"drift_fn": f"{FNS}:vp_drift", "diffusion_fn": f"{FNS}:vp_diffusion"}}

#: extra configurations of the custom SDE (the three ways of giving it)
CUSTOM_VARIANTS = {
    "custom-ve-from-g": {"diffusion_fn": f"{FNS}:ve_diffusion", "eps": 1e-5},
    "custom-ve-marginal": {"alpha_fn": f"{FNS}:ve_alpha", "sigma_fn": f"{FNS}:ve_sigma", "eps": 1e-5},
    "custom-vp-both": {
        "drift_fn": f"{FNS}:vp_drift",
        "diffusion_fn": f"{FNS}:vp_diffusion",
        "alpha_fn": f"{FNS}:vp_alpha",
        "sigma_fn": f"{FNS}:vp_sigma",
    },
}


def _vp_log_alpha(t):
    return -0.25 * t**2 * (B_MAX - B_MIN) - 0.5 * t * B_MIN


def _subvp_b(t):
    return t * B_MIN + 0.5 * t**2 * (B_MAX - B_MIN)


#: case -> (numpy alpha(t), numpy sigma(t)) written independently of the implementations
CLOSED_FORMS = {
    "vpsde": (lambda t: np.exp(_vp_log_alpha(t)), lambda t: np.sqrt(1 - np.exp(2 * _vp_log_alpha(t)))),
    "vesde": (lambda t: np.ones_like(t), lambda t: S_MIN * (S_MAX / S_MIN) ** t),
    "subvpsde": (lambda t: np.exp(-0.5 * _subvp_b(t)), lambda t: 1 - np.exp(-_subvp_b(t))),
    "custom": (lambda t: np.exp(_vp_log_alpha(t)), lambda t: np.sqrt(1 - np.exp(2 * _vp_log_alpha(t)))),
    "custom-ve-from-g": (lambda t: np.ones_like(t), lambda t: S_MIN * np.sqrt((S_MAX / S_MIN) ** (2 * t) - 1)),
    "custom-ve-marginal": (lambda t: np.ones_like(t), lambda t: S_MIN * (S_MAX / S_MIN) ** t),
    "custom-vp-both": (lambda t: np.exp(_vp_log_alpha(t)), lambda t: np.sqrt(1 - np.exp(2 * _vp_log_alpha(t)))),
}


def build(case: str):
    if case in CUSTOM_VARIANTS:
        return Registry.get("sde", "custom", **CUSTOM_VARIANTS[case])
    return Registry.get("sde", case, **REQUIRED.get(case, {}))


CASES = Registry.list("sde") + sorted(CUSTOM_VARIANTS)
_cache = {}


@pytest.fixture(scope="module", autouse=True)
def allow_test_functions():
    """The custom SDE may import the test functions' package (names from data need the user's opt-in)."""
    with allowed_imports(FNS.split(".")[0]):
        yield


@pytest.fixture(params=CASES)
def sde(request):
    if request.param not in _cache:
        try:
            _cache[request.param] = build(request.param)
        except (ValueError, KeyError) as err:  # a component another module added that needs parameters
            pytest.skip(f"sde {request.param!r} cannot be built with defaults: {err}")
    s = _cache[request.param]
    s.case = request.param
    return s


def grid(sde, n=9):
    return torch.tensor(np.unique(np.r_[sde.eps, 1e-3, 0.01, np.linspace(0.05, 1.0, n)]), dtype=torch.float64)


def test_builtins_registered():
    assert {"vpsde", "vesde", "subvpsde", "custom"} <= set(Registry.list("sde"))
    for name in ("vesde", "subvpsde", "custom"):
        info = Registry.inspect("sde", name)
        assert info["doc"] and info["compatibility"] != "works with every other component"


@pytest.mark.parametrize("case", sorted(CLOSED_FORMS))
def test_marginal_matches_closed_form(case):
    sde = build(case)
    t = torch.tensor(np.r_[sde.eps, 1e-4, 1e-3, np.linspace(0.01, 1.0, 37)], dtype=torch.float64)
    alpha_ref, sigma_ref = CLOSED_FORMS[case]
    np.testing.assert_allclose(sde.alpha(t).numpy(), alpha_ref(t.numpy()), rtol=1e-8)
    np.testing.assert_allclose(sde.sigma(t).numpy(), sigma_ref(t.numpy()), rtol=1e-8)
    x0 = torch.randn(t.shape[0], 3, 2, dtype=torch.float64)
    mean, std = sde.marginal_prob(x0, t)
    torch.testing.assert_close(mean, sde.alpha(t)[:, None, None] * x0)
    torch.testing.assert_close(std, sde.sigma(t))


def test_custom_matches_vpsde_everywhere():
    custom, vp = build("custom"), Registry.get("sde", "vpsde")
    t = torch.linspace(1e-3, 1, 101, dtype=torch.float64)
    for name in ("alpha", "sigma", "drift_coef", "diffusion", "d_alpha", "d_sigma", "log_snr"):
        torch.testing.assert_close(getattr(custom, name)(t), getattr(vp, name)(t), rtol=1e-8, atol=1e-10)
    assert custom.prior_std() == pytest.approx(vp.prior_std(), rel=1e-4)
    # float32 inputs keep their dtype
    assert custom.sigma(t.float()).dtype == torch.float32 and custom.diffusion(t.float()).dtype == torch.float32


def test_euler_maruyama_matches_marginal(sde):
    """Simulate dx = f(t) x dt + g(t) dW from the marginal at eps; compare mean and std at a few times.

    Each step is split symmetrically (half drift, noise, half drift) with f and g at the step's midpoint,
    an Euler-Maruyama scheme whose time-discretization error is O(dt^2), far below the Monte-Carlo error.
    """
    n, steps, x0 = 20000, 500, 3.0
    gen = torch.Generator().manual_seed(0)
    t0 = sde.eps
    ts = torch.linspace(t0, 1.0, steps + 1, dtype=torch.float64)
    mids = 0.5 * (ts[1:] + ts[:-1])
    dt = float(ts[1] - ts[0])
    half_drift = torch.exp(0.5 * dt * sde.drift_coef(mids)).tolist()
    kick = (sde.diffusion(mids) * math.sqrt(dt)).tolist()
    start = torch.tensor([t0], dtype=torch.float64)
    x = sde.alpha(start) * x0 + sde.sigma(start) * torch.randn(n, generator=gen, dtype=torch.float64)
    checks = {steps // 10: None, steps // 2: None, steps: None}
    for i in range(steps):
        x = (x * half_drift[i] + kick[i] * torch.randn(n, generator=gen, dtype=torch.float64)) * half_drift[i]
        if i + 1 in checks:
            checks[i + 1] = x.clone()
    for k, xs in checks.items():
        t = ts[k : k + 1]
        mean, std = float(sde.alpha(t)) * x0, float(sde.sigma(t))
        # 5 standard errors of the estimates, plus 0.5% for the time discretization
        assert float(xs.mean()) == pytest.approx(mean, abs=5 * std / math.sqrt(n) + 0.005 * abs(mean)), float(t)
        assert float(xs.std()) == pytest.approx(std, rel=5 / math.sqrt(2 * n) + 0.005), float(t)


def test_coefficients_consistent_with_marginal(sde):
    """Closed-form f, g, alpha', sigma' agree with the generic autograd derivation from alpha and sigma."""
    t = grid(sde)
    alpha, sigma = sde.alpha(t), sde.sigma(t)
    d_alpha = time_derivative(sde.alpha, t)
    d_sigma = time_derivative(sde.sigma, t)
    f = d_alpha / alpha
    g2 = 2 * sigma * d_sigma - 2 * f * sigma**2
    torch.testing.assert_close(sde.d_alpha(t), d_alpha, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(sde.d_sigma(t), d_sigma, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(sde.drift_coef(t), f, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(sde.diffusion(t) ** 2, g2, rtol=1e-6, atol=1e-9)
    drift, diff = sde.sde(torch.ones(t.shape[0], 4, 1, dtype=torch.float64), t)
    torch.testing.assert_close(drift[:, 0, 0], f, rtol=1e-6, atol=1e-9)
    assert diff.shape == t.shape


def test_log_snr_and_inverse(sde):
    t = torch.linspace(sde.eps, 1.0, 64, dtype=torch.float64)
    lam = sde.log_snr(t)
    torch.testing.assert_close(lam, 2 * torch.log(sde.alpha(t) / sde.sigma(t)), rtol=1e-8, atol=1e-8)
    assert (lam[1:] < lam[:-1]).all(), "log-SNR must decrease in t"
    torch.testing.assert_close(sde.t_from_log_snr(lam).to(torch.float64), t, rtol=1e-6, atol=1e-7)
    # the log-SNR time grid of the samplers starts at 1 and ends at eps
    ts = Registry.get("sampler", "ddim", num_steps=8, time_grid="logsnr").timesteps(sde, dtype=torch.float64)
    assert float(ts[0]) == 1.0 and float(ts[-1]) == pytest.approx(sde.eps) and (ts[1:] < ts[:-1]).all()


def test_prior_sampling_and_logp(sde):
    noise = Registry.get("noise", "standard")
    prior_std = sde.prior_std()
    assert prior_std == pytest.approx(float(sde.sigma(torch.ones(1, dtype=torch.float64))), rel=1e-3)
    assert float(sde.alpha(torch.ones(1, dtype=torch.float64))) < 0.1 * prior_std  # the prior forgets x0
    gen = torch.Generator().manual_seed(1)
    z = sde.prior_sampling((2000, 16, 2), noise, generator=gen, dtype=torch.float64)
    assert z.shape == (2000, 16, 2)
    assert float(z.std()) == pytest.approx(prior_std, rel=5 / math.sqrt(2 * z.numel()))
    assert abs(float(z.mean())) < 5 * prior_std / math.sqrt(z.numel())
    small = z[:5]
    expected = stats.norm(0, prior_std).logpdf(small.numpy()).sum(axis=(1, 2))
    np.testing.assert_allclose(sde.prior_logp(small, noise).numpy(), expected, rtol=1e-10)
    torch.testing.assert_close(
        sde.prior_logp(small, noise),
        torch.distributions.Normal(0.0, prior_std).log_prob(small).sum((1, 2)),
    )


def test_ddim_with_gaussian_oracle_recovers_data(sde):
    """With the exact eps of Gaussian data N(m, v), deterministic DDIM maps the t=1 marginal to ~N(m, v).

    The starting points are evenly spaced quantiles of the exact marginal at t=1 (no Monte-Carlo error);
    DDIM is first order, so 200 steps leave a ~1-2% shrinkage of the std.
    """
    m, v = 0.7, 0.25

    def oracle(x, t):
        a, s = sde.alpha(t)[:, None, None], sde.sigma(t)[:, None, None]
        x0_hat = m + a * v * (x - a * m) / (a * a * v + s * s)
        return (x - a * x0_hat) / s

    sampler = Registry.get("sampler", "ddim", num_steps=200, time_grid="logsnr")
    one = torch.ones(1, dtype=torch.float64)
    a1, s1 = float(sde.alpha(one)), float(sde.sigma(one))
    q = torch.tensor(stats.norm.ppf(np.linspace(0.0005, 0.9995, 1000)), dtype=torch.float64)
    x = (a1 * m + math.sqrt(a1 * a1 * v + s1 * s1) * q).reshape(-1, 1, 1)
    out = sampler.sample(Denoiser(oracle, sde, "eps"), x, sde, Registry.get("noise", "standard"))
    s_eps = float(sde.sigma(torch.tensor([sde.eps], dtype=torch.float64)))
    assert torch.isfinite(out).all()
    assert float(out.mean()) == pytest.approx(m, abs=1e-3)
    ref = math.sqrt(v + s_eps**2) * float(q.std())
    assert float(out.std()) == pytest.approx(ref, rel=0.03)


@pytest.mark.parametrize("sampler", ["ddim", "dpm"])
def test_log_snr_samplers_accept(sde, sampler):
    if sampler not in Registry.list("sampler"):
        pytest.skip(f"no {sampler} sampler registered")
    components = {"sde": sde, "noise": Registry.get("noise", "standard")}
    assert Registry.get("sampler", sampler).check_compatibility(components) is None


def test_pickle_roundtrip(sde):
    clone = pickle.loads(pickle.dumps(sde))
    t = torch.linspace(sde.eps, 1.0, 7, dtype=torch.float64)
    for name in ("alpha", "sigma", "drift_coef", "diffusion"):
        torch.testing.assert_close(getattr(clone, name)(t), getattr(sde, name)(t))


# ------------------------------------------------------------------ parameter validation
@pytest.mark.parametrize(
    "name, params, needle",
    [
        ("vesde", {"sigma_min": 0.0}, "sigma_min"),
        ("vesde", {"sigma_min": 1.0, "sigma_max": 0.5}, "sigma_max"),
        ("vesde", {"eps": 0.0}, "eps"),
        ("subvpsde", {"beta_min": -1.0}, "beta_min"),
        ("subvpsde", {"beta_max": 0.05}, "beta_max"),
        ("custom", {}, "diffusion_fn"),
        ("custom", {"diffusion_fn": "no_such_module_xyz:g"}, "diffusion_fn"),
        ("custom", {"diffusion_fn": "os.path.join"}, "diffusion_fn"),  # not module:function
        ("custom", {"diffusion_fn": "__import__('os'):system"}, "diffusion_fn"),  # never evaluated
        ("custom", {"diffusion_fn": f"{FNS}:missing"}, "diffusion_fn"),
        ("custom", {"diffusion_fn": f"{FNS}:NOT_CALLABLE"}, "diffusion_fn"),
        ("custom", {"diffusion_fn": f"{FNS}:SDEHolder"}, "diffusion_fn"),  # a class is not a function
        ("custom", {"diffusion_fn": f"{FNS}:zero"}, "diffusion_fn"),
        ("custom", {"diffusion_fn": f"{FNS}:negative"}, "diffusion_fn"),
        ("custom", {"diffusion_fn": f"{FNS}:broken"}, "diffusion_fn"),
        ("custom", {"drift_fn": f"{FNS}:broken", "diffusion_fn": f"{FNS}:vp_diffusion"}, "drift_fn"),
        ("custom", {"drift_fn": f"{FNS}:vp_drift"}, "diffusion_fn"),
        ("custom", {"alpha_fn": f"{FNS}:vp_alpha"}, "sigma_fn"),
        ("custom", {"alpha_fn": f"{FNS}:vp_alpha", "sigma_fn": f"{FNS}:shrinking_sigma"}, "sigma_fn"),
        ("custom", {"alpha_fn": f"{FNS}:vp_sigma", "sigma_fn": f"{FNS}:vp_sigma"}, "alpha_fn"),
        ("custom", {"alpha_fn": f"{FNS}:ve_alpha", "sigma_fn": f"{FNS}:zero"}, "sigma_fn"),
        (
            "custom",
            {"diffusion_fn": f"{FNS}:vp_diffusion", "alpha_fn": f"{FNS}:ve_alpha", "sigma_fn": f"{FNS}:ve_sigma"},
            "sigma_fn",
        ),
        (
            "custom",
            {
                "drift_fn": f"{FNS}:vp_drift",
                "diffusion_fn": f"{FNS}:vp_diffusion",
                "alpha_fn": f"{FNS}:ve_alpha",
                "sigma_fn": f"{FNS}:vp_sigma",
            },
            "alpha_fn",
        ),
        ("custom", {"diffusion_fn": f"{FNS}:vp_diffusion", "grid_size": 4}, "grid_size"),
    ],
)
def test_bad_parameters_raise(name, params, needle):
    with pytest.raises(ValueError, match=needle):
        Registry.get("sde", name, **params)


def test_custom_accepts_callables_and_constants():
    with pytest.warns(UserWarning, match="alpha"):  # Brownian motion keeps x0: its prior is poor
        sde = Registry.get("sde", "custom", diffusion_fn=custom_sde_fns.constant_one, eps=1e-3)
    t = torch.tensor([0.25, 1.0], dtype=torch.float64)
    torch.testing.assert_close(sde.sigma(t), torch.sqrt(t))  # Brownian motion: sigma^2 = t
    torch.testing.assert_close(sde.alpha(t), torch.ones_like(t))
    assert "constant_one" in repr(sde)
