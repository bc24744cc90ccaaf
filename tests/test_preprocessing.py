"""Every registered preprocessor: exact round trip, shapes, masks, causal context features."""

import pytest
import torch

from gluonts_diffusion.core.registry import Registry

PREPROCESSORS = Registry.list("preprocessing")
# (batch, length, channels): univariate, odd length, multivariate, a single step
SHAPES = [(3, 16, 1), (2, 13, 1), (2, 11, 3), (2, 1, 2)]


def make(name, **params):
    return Registry.get("preprocessing", name, **params)


def history(batch, length, channels, seed=0, missing=True):
    g = torch.Generator().manual_seed(seed)
    x = 50.0 + 10.0 * torch.randn(batch, length, channels, generator=g).cumsum(1)
    observed = torch.ones_like(x)
    if missing and length > 4:
        observed[:, 2:4] = 0
        x = x * observed  # NaN-free masked input: unobserved values are zero
    return x, observed


@pytest.mark.parametrize("name", PREPROCESSORS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scaling", ["std", "mean", "none"])
def test_round_trip(name, shape, scaling):
    batch, length, channels = shape
    pre = make(name, scaling=scaling)
    past, past_observed = history(batch, 24, channels)
    state = pre.fit(past, past_observed)
    window, _ = history(batch, length, channels, seed=1)
    z = pre.transform(window, state)
    assert tuple(z.shape) == (batch, *pre.diffused_shape(length, channels))
    assert torch.isfinite(z).all()
    # float32: within 1e-5 of the window's magnitude (values here reach ~100, whose float32 ulp is ~1e-5)
    tol = 1e-5 * max(1.0, float(window.abs().max()))
    torch.testing.assert_close(pre.inverse_transform(z, state), window, rtol=1e-5, atol=tol)


@pytest.mark.parametrize("name", PREPROCESSORS)
def test_round_trip_float64_and_gradients(name):
    pre = make(name)
    x = torch.randn(2, 9, 2, dtype=torch.float64, requires_grad=True)
    y = pre.decode(pre.encode(x))
    torch.testing.assert_close(y, x, rtol=1e-10, atol=1e-10)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", PREPROCESSORS)
@pytest.mark.parametrize("shape", [(2, 12, 1), (2, 7, 3)])
def test_transform_mask(name, shape):
    pre = make(name)
    batch, length, channels = shape
    full = torch.ones(shape)
    out = pre.transform_mask(full)
    assert tuple(out.shape) == (batch, *pre.diffused_shape(length, channels))
    assert out.dtype == full.dtype and bool((out == 1).all())
    partial = full.clone()
    partial[0, 3] = 0
    out = pre.transform_mask(partial)
    assert tuple(out.shape) == (batch, *pre.diffused_shape(length, channels))
    assert bool(((out == 0) | (out == 1)).all())
    assert bool((out[1] == 1).all())  # the other row is untouched
    boolean = pre.transform_mask(partial.bool())
    assert boolean.dtype == torch.bool


@pytest.mark.parametrize("name", PREPROCESSORS)
@pytest.mark.parametrize("channels", [1, 3])
def test_context_features_shape_and_causality(name, channels):
    pre = make(name)
    past, observed = history(2, 40, channels)
    state = pre.fit(past, observed)
    normalized = pre.normalize(past, state)
    feats = pre.context_features(normalized, observed)
    n = pre.num_context_features(channels)
    if n == 0:
        assert feats is None
        return
    assert feats.shape == (2, 40, n)
    assert torch.isfinite(feats).all()
    # changing later history must leave earlier features unchanged
    cut = 25
    changed = normalized.clone()
    changed[:, cut:] = changed[:, cut:] * 3.0 + 7.0
    changed_observed = observed.clone()
    changed_observed[:, cut + 2 :] = 0
    later = pre.context_features(changed, changed_observed)
    torch.testing.assert_close(later[:, :cut], feats[:, :cut], rtol=0, atol=1e-6)
    assert not torch.allclose(later[:, cut:], feats[:, cut:])


def test_wavelet_is_orthonormal_with_periodization():
    pre = make("wavelet", wavelet="db4", level=3)
    x = torch.randn(4, 16, 2, dtype=torch.float64)
    z = pre.encode(x)
    assert z.shape == (4, 16, 2)
    torch.testing.assert_close(z.pow(2).sum(), x.pow(2).sum())
    # odd length: padded to a multiple of 2**level, decode crops it
    assert pre.diffused_shape(13, 1) == (16, 1)
    assert pre.decode(torch.randn(2, 16, 1)).shape == (2, 13, 1)


@pytest.mark.parametrize("mode", ["symmetric", "zero", "periodic"])
@pytest.mark.parametrize("length", [10, 13])
def test_wavelet_other_modes_round_trip(mode, length):
    pre = make("wavelet", wavelet="sym3", level=2, mode=mode)
    x = torch.randn(2, length, 2, dtype=torch.float64)
    z = pre.encode(x)
    assert z.shape[1] == pre.diffused_shape(length, 2)[0] >= length
    torch.testing.assert_close(pre.decode(z), x)


def test_fourier_is_orthonormal():
    pre = make("fourier")
    for length in (8, 9):
        x = torch.randn(3, length, 2, dtype=torch.float64)
        z = pre.encode(x)
        assert z.shape == x.shape
        torch.testing.assert_close(z.pow(2).sum(), x.pow(2).sum())
        # the map is orthogonal: white noise on coefficients is white noise in time
        basis = pre.decode(torch.eye(length, dtype=torch.float64).unsqueeze(-1)).squeeze(-1)
        torch.testing.assert_close(basis @ basis.T, torch.eye(length, dtype=torch.float64))


def test_technical_indicator_values():
    pre = make(
        "technical", indicators=["return", "ma", "rsi", "volatility"], ma_windows=[3], rsi_window=3, volatility_window=3
    )
    x = torch.tensor([1.0, 2.0, 3.0, 2.0, 4.0]).view(1, -1, 1)
    feats = pre.context_features(x, torch.ones_like(x))
    assert pre.num_context_features(1) == 4
    torch.testing.assert_close(feats[0, :, 0], torch.tensor([0.0, 1.0, 1.0, -1.0, 2.0]))
    torch.testing.assert_close(feats[0, :, 1], torch.tensor([1.0, 1.5, 2.0, 7 / 3, 3.0]))
    # rsi at the last step: gains 0+0+2 (over d = 1, -1, 2) -> (3 - 1) / (3 + 1)
    torch.testing.assert_close(feats[0, -1, 2], torch.tensor(0.5))
    assert feats[0, 0, 3] == 0


def test_multi_scale_values_skip_unobserved():
    pre = make("multi_scale", scales=[1, 2, 4])
    x = torch.tensor([1.0, 3.0, 100.0, 5.0]).view(1, -1, 1)
    observed = torch.tensor([1.0, 1.0, 0.0, 1.0]).view(1, -1, 1)
    feats = pre.context_features(x, observed)
    torch.testing.assert_close(feats[0, :, 0], torch.tensor([1.0, 3.0, 0.0, 5.0]))
    torch.testing.assert_close(feats[0, :, 1], torch.tensor([1.0, 2.0, 3.0, 5.0]))
    torch.testing.assert_close(feats[0, :, 2], torch.tensor([1.0, 2.0, 2.0, 3.0]))


@pytest.mark.parametrize(
    "name, params",
    [
        ("wavelet", {"wavelet": "nope"}),
        ("wavelet", {"level": 0}),
        ("wavelet", {"mode": "nope"}),
        ("technical", {"indicators": ["nope"]}),
        ("technical", {"rsi_window": 0}),
        ("technical", {"macd_spans": [12, 26]}),
        ("multi_scale", {"scales": [0, 7]}),
        ("multi_scale", {"scales": []}),
        ("fourier", {"scaling": "nope"}),
    ],
)
def test_bad_parameters_raise(name, params):
    with pytest.raises(ValueError, match=list(params)[0]):
        make(name, **params)
