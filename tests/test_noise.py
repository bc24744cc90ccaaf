"""Noise components: declared covariance vs samples, whitening, log densities, parameters, data-dependent noise."""

import math
import pickle

import numpy as np
import pytest
import torch
from scipy import stats

from gluonts_diffusion import Registry

N, LENGTH, CHANNELS = 10000, 16, 2  # 20000 draws of a length-16 window per noise
#: max-abs tolerance on a covariance entry: 5 standard errors of sqrt(2 / draws)
COV_ATOL = 5 * math.sqrt(2 / (N * CHANNELS))

#: configurations beyond each registered noise's defaults
VARIANTS = {
    "correlated-rbf": ("correlated", {"kernel": "rbf", "length_scale": 2.0}),
    "correlated-ou-long": ("correlated", {"kernel": "ou", "length_scale": 10.0}),
    "structured-periodic": ("structured", {"pattern": "periodic", "period": 8, "harmonics": 2, "strength": 0.7}),
    "structured-band": ("structured", {"pattern": "band", "low_freq": 0.05, "high_freq": 0.2, "strength": 0.8}),
    "structured-seasonal-4": ("structured", {"pattern": "seasonal", "period": 4, "strength": 0.9}),
    "adaptive-correlated": ("adaptive", {"base_noise": "correlated", "base_params": {"kernel": "ou"}}),
}
CASES = Registry.list("noise") + sorted(VARIANTS)
#: noises of this module that declare unit marginal variance
UNIT_VARIANCE = {"standard", "correlated", "structured", "adaptive"}


def build(case):
    name, params = VARIANTS.get(case, (case, {}))
    return Registry.get("noise", name, **params)


@pytest.fixture(params=CASES)
def noise(request):
    try:
        return build(request.param)
    except (ValueError, KeyError) as err:  # a noise another module added that needs parameters
        pytest.skip(f"noise {request.param!r} cannot be built with defaults: {err}")


def empirical_cov(x: torch.Tensor) -> torch.Tensor:
    """Covariance over the time axis of zero-mean draws ``(batch, length, channels)``, pooled over channels."""
    flat = x.transpose(1, 2).reshape(-1, x.shape[1]).to(torch.float64)
    return flat.T @ flat / flat.shape[0]


def test_builtins_registered():
    assert {"standard", "correlated", "structured", "adaptive"} <= set(Registry.list("noise"))
    for name in ("correlated", "structured", "adaptive"):
        info = Registry.inspect("noise", name)
        assert info["doc"] and info["compatibility"]


def test_declared_covariance_is_valid(noise):
    cov = noise.covariance(LENGTH)
    assert cov.shape == (LENGTH, LENGTH) and cov.dtype == torch.float64
    torch.testing.assert_close(cov, cov.T)
    assert float(torch.linalg.eigvalsh(cov).min()) > 0
    if type(noise).registry_name in UNIT_VARIANCE:
        torch.testing.assert_close(torch.diagonal(cov), torch.ones(LENGTH, dtype=torch.float64))


def test_empirical_covariance_matches_declared(noise):
    gen = torch.Generator().manual_seed(0)
    x = noise.sample((N, LENGTH, CHANNELS), generator=gen, dtype=torch.float64)
    assert x.shape == (N, LENGTH, CHANNELS)
    cov = noise.covariance(LENGTH)
    mean_std = math.sqrt(float(cov.sum()) / (LENGTH**2 * N * CHANNELS))  # std of the grand mean
    assert abs(float(x.mean())) < 5 * mean_std
    diff = (empirical_cov(x) - cov).abs().max()
    assert float(diff) < COV_ATOL


def test_whitened_samples_are_white(noise):
    gen = torch.Generator().manual_seed(1)
    x = noise.sample((N, LENGTH, CHANNELS), generator=gen, dtype=torch.float64)
    white = noise.whiten(x)
    assert white.shape == x.shape
    diff = (empirical_cov(white) - torch.eye(LENGTH, dtype=torch.float64)).abs().max()
    assert float(diff) < COV_ATOL


def test_sample_dtype_and_generator(noise):
    a = noise.sample((3, 8, 2), generator=torch.Generator().manual_seed(5))
    b = noise.sample((3, 8, 2), generator=torch.Generator().manual_seed(5))
    assert a.dtype == torch.get_default_dtype() and torch.equal(a, b)
    c = noise.sample((3, 8, 2), dtype=torch.float64)
    assert c.dtype == torch.float64
    white = noise.whiten(a)
    assert white.dtype == a.dtype and torch.isfinite(white).all()


@pytest.mark.parametrize("scale", [1.0, 2.5, "rows"])
def test_log_prob_matches_scipy(noise, scale):
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(4, 8, 3, generator=gen, dtype=torch.float64)
    cov = noise.covariance(8).numpy()
    scales = np.array([0.5, 1.0, 2.0, 3.0]) if scale == "rows" else np.full(4, scale)
    expected = [
        stats.multivariate_normal(np.zeros(8), s**2 * cov).logpdf(z[b].T.numpy()).sum() for b, s in enumerate(scales)
    ]
    arg = torch.tensor(scales) if scale == "rows" else scale
    np.testing.assert_allclose(noise.log_prob(z, arg).numpy(), expected, rtol=1e-8)


def test_pickle_roundtrip(noise):
    noise.sample((2, 8, 1))  # fill any caches first
    clone = pickle.loads(pickle.dumps(noise))
    torch.testing.assert_close(clone.covariance(8), noise.covariance(8))
    z = torch.randn(2, 8, 1, dtype=torch.float64)
    torch.testing.assert_close(clone.whiten(z), noise.whiten(z))


# ------------------------------------------------------------------ specific noises
def test_correlated_kernels():
    ou = build("correlated").covariance(5)
    torch.testing.assert_close(ou[0, 3], torch.tensor(math.exp(-3 / 3.0), dtype=torch.float64))
    rbf = Registry.get("noise", "correlated", kernel="rbf", length_scale=2.0, jitter=1e-3).covariance(5)
    torch.testing.assert_close(rbf[1, 3], torch.tensor(math.exp(-0.5) / (1 + 1e-3), dtype=torch.float64))
    noise = build("correlated")
    assert noise.cholesky(LENGTH, dtype=torch.float32) is noise.cholesky(LENGTH, dtype=torch.float32)  # cached


def test_structured_patterns():
    seasonal = Registry.get("noise", "structured", pattern="seasonal", period=3, strength=0.6).covariance(7)
    assert float(seasonal[0, 3]) == pytest.approx(0.6) and float(seasonal[0, 6]) == pytest.approx(0.6)
    assert float(seasonal[0, 1]) == 0.0
    periodic = Registry.get("noise", "structured", pattern="periodic", period=4, strength=0.5).covariance(5)
    assert float(periodic[0, 2]) == pytest.approx(-0.5) and float(periodic[0, 4]) == pytest.approx(0.5)
    band = Registry.get("noise", "structured", pattern="band", low_freq=0.0, high_freq=0.5, strength=0.5)
    torch.testing.assert_close(band.covariance(6), torch.eye(6, dtype=torch.float64))  # full band = white


def test_adaptive_unbound_is_its_base():
    adaptive, standard = build("adaptive"), build("standard")
    a = adaptive.sample((4, 8, 2), generator=torch.Generator().manual_seed(3))
    b = standard.sample((4, 8, 2), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not adaptive.is_bound
    torch.testing.assert_close(adaptive.covariance(8), standard.covariance(8))


def _histories(batch=3, length=200):
    gen = torch.Generator().manual_seed(4)
    white = torch.randn(length, 1, generator=gen, dtype=torch.float64)
    walk = torch.cumsum(torch.randn(length, 1, generator=gen, dtype=torch.float64), 0)
    alternating = torch.tensor([(-1.0) ** i for i in range(length)], dtype=torch.float64)[:, None]
    return torch.stack([white, walk, alternating])[:batch]


def test_adaptive_scale_from_history():
    noise = Registry.get("noise", "adaptive", min_scale=0.3, max_scale=1.2)
    past = _histories()
    observed = torch.ones_like(past)
    scale = noise.scale_from_history(past, observed)
    assert scale.shape == (3,)
    assert float(scale[0]) == pytest.approx(1.0, abs=0.15)  # white noise: roughness 1
    assert float(scale[1]) == pytest.approx(0.3)  # random walk: clipped to min_scale
    assert float(scale[2]) == pytest.approx(1.2)  # alternating: sqrt(2), clipped to max_scale
    # unobserved values are ignored; an empty or constant history gets 1
    observed[0, 100:] = 0
    past[0, 100:] = 1e6
    assert float(noise.scale_from_history(past, observed)[0]) == pytest.approx(float(scale[0]), abs=0.2)
    assert noise.scale_from_history(torch.zeros(2, 50), torch.ones(2, 50)).tolist() == [1.0, 1.0]
    assert noise.scale_from_history(torch.randn(1, 50, 1), torch.zeros(1, 50, 1)).tolist() == [1.0]


@pytest.mark.parametrize("case", ["adaptive", "adaptive-correlated"])
def test_adaptive_bound_covariance_is_per_series(case):
    noise = build(case)
    past = _histories()
    bound = noise.conditioned_on(past, torch.ones_like(past))
    assert bound.is_bound and not noise.is_bound
    cov = bound.covariance(LENGTH)
    assert cov.shape == (3, LENGTH, LENGTH)
    base = noise.covariance(LENGTH)
    for b in range(3):
        torch.testing.assert_close(cov[b], float(bound.row_scale[b]) ** 2 * base)
    # k sample paths per series in adjacent rows: each block has its series' covariance
    k = 6000
    x = bound.sample((3 * k, LENGTH, CHANNELS), generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    for b in range(3):
        block = x[b * k : (b + 1) * k]
        tol = 5 * math.sqrt(2 / (k * CHANNELS)) * float(bound.row_scale[b]) ** 2
        assert float((empirical_cov(block) - cov[b]).abs().max()) < tol
    white = bound.whiten(x)
    assert float((empirical_cov(white) - torch.eye(LENGTH, dtype=torch.float64)).abs().max()) < COV_ATOL
    # log_prob includes the per-series scale
    z = torch.randn(3, 8, 2, dtype=torch.float64)
    expected = [
        stats.multivariate_normal(np.zeros(8), (2.0 * float(bound.row_scale[b])) ** 2 * base[:8, :8].numpy())
        .logpdf(z[b].T.numpy())
        .sum()
        for b in range(3)
    ]
    np.testing.assert_allclose(bound.log_prob(z, 2.0).numpy(), expected, rtol=1e-8)
    with pytest.raises(ValueError, match="rows"):
        bound.sample((4, LENGTH, 1))


# ------------------------------------------------------------------ parameter validation
@pytest.mark.parametrize(
    "name, params, needle",
    [
        ("correlated", {"kernel": "matern"}, "kernel"),
        ("correlated", {"length_scale": 0.0}, "length_scale"),
        ("correlated", {"length_scale": -2.0}, "length_scale"),
        ("correlated", {"length_scale": float("inf")}, "length_scale"),
        ("correlated", {"kernel": "rbf", "jitter": 0.0}, "jitter"),
        ("structured", {"pattern": "trend"}, "pattern"),
        ("structured", {"period": 1}, "period"),
        ("structured", {"period": 2.5}, "period"),
        ("structured", {"strength": 1.0}, "strength"),
        ("structured", {"strength": -0.1}, "strength"),
        ("structured", {"period": 6, "harmonics": 4}, "harmonics"),
        ("structured", {"pattern": "band", "low_freq": 0.3, "high_freq": 0.2}, "low_freq"),
        ("structured", {"pattern": "band", "high_freq": 0.7}, "high_freq"),
        ("adaptive", {"min_scale": 0.0}, "min_scale"),
        ("adaptive", {"min_scale": 0.5, "max_scale": 0.4}, "max_scale"),
        ("adaptive", {"base_noise": "adaptive"}, "base_noise"),
        ("adaptive", {"base_noise": "no_such_noise"}, "base_noise"),
        ("adaptive", {"base_noise": "correlated", "base_params": {"length_scale": -1}}, "length_scale"),
    ],
)
def test_bad_parameters_raise(name, params, needle):
    with pytest.raises(ValueError, match=needle):
        Registry.get("noise", name, **params)
