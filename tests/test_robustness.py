"""Robustness of the model to its inputs: missing future values and bounds on the predicted clean window."""

import numpy as np
import pytest
import torch
from test_config_validation import with_change
from test_model_features import CTX, PRED, TINY, batch_inputs, randomize_zero_params, synthetic, tiny_estimator

from gluonts_diffusion import DiffusionEstimator, with_sampler
from gluonts_diffusion.core.denoiser import Denoiser, from_eps, history_bounds
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.core.tensors import expand_t
from gluonts_diffusion.experiments.config import ConfigError, estimator_kwargs, validate_config
from gluonts_diffusion.model.module import DiffusionModel
from gluonts_diffusion.model.specs import component_spec


# --------------------------------------------------------------------------- missing future values
def model_with(preprocessing="raw", seed=1, **kwargs):
    """The tiny transformer model of :mod:`test_model_features` with another preprocessing (and model options)."""
    spec = component_spec(
        {"preprocessing": preprocessing},
        {"architecture": TINY["transformer"], "sampler": {"num_steps": 3}},
    )
    torch.manual_seed(seed)
    return DiffusionModel(PRED, CTX, spec, lags_seq=[1, 2], num_time_features=1, num_parallel_samples=3, **kwargs)


@pytest.mark.parametrize("preprocessing", ["raw", "fourier"])
def test_missing_future_values_do_not_reach_the_network(monkeypatch, preprocessing):
    model = model_with(preprocessing)
    randomize_zero_params(model)
    model.eval()
    seen = []
    denoise = model.denoise
    monkeypatch.setattr(model, "denoise", lambda x, *args: seen.append(x.clone()) or denoise(x, *args))
    inputs = batch_inputs(model, batch=3)
    observed = torch.ones_like(inputs["future_target"])
    observed[0, 1] = observed[2, 3] = 0.0
    losses = []
    for dummy in (0.0, 123.0, float("nan")):  # GluonTS writes 0 (or another dummy) where a value is missing
        target = inputs["future_target"].clone()
        target[observed == 0] = dummy
        with torch.no_grad():
            losses.append(
                model.loss(
                    **{**inputs, "future_target": target, "future_observed_values": observed},
                    generator=torch.Generator().manual_seed(0),
                )
            )
    for x, loss in zip(seen[1:], losses[1:]):
        torch.testing.assert_close(x, seen[0], rtol=0, atol=0)
        torch.testing.assert_close(loss, losses[0], rtol=0, atol=0)
    assert torch.isfinite(losses[0]).all()


# --------------------------------------------------------------------------- x0 bounds (clip_x0)
def test_history_bounds_known_answer():
    history = torch.tensor([[1.0, 5.0, -2.0, 99.0], [0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0]]).unsqueeze(-1)
    observed = torch.tensor([[1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]]).unsqueeze(-1)
    low, high = history_bounds(history, observed, 0.5)
    assert low.shape == high.shape == (3, 1, 1)
    # [min - k r, max + k r], r = max(range, 1); the unobserved 99 is ignored; nothing observed: unbounded
    assert low.flatten().tolist() == [-2.0 - 3.5, float("-inf"), 3.0 - 0.5]
    assert high.flatten().tolist() == [5.0 + 3.5, float("inf"), 3.0 + 0.5]


@pytest.mark.parametrize("parameterization", ["x0", "eps", "edm"])
def test_bounded_denoiser_returns_the_bound_and_a_consistent_eps(parameterization):
    sde = Registry.get("sde", "vpsde")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 1, generator=g)
    t = torch.tensor([0.3, 0.8])
    raw_x0 = torch.tensor([[-9.0, -0.5, 0.0, 0.5, 9.0], [0.2, 7.0, -7.0, 0.1, 0.0]]).unsqueeze(-1)
    eps = (x - expand_t(sde.alpha(t), x) * raw_x0) / expand_t(sde.sigma(t), x)
    out = from_eps(eps, x, t, sde, parameterization)  # the network output whose x0 is raw_x0
    plain = Denoiser(lambda x, t: out, sde, parameterization)
    torch.testing.assert_close(plain.x0(x, t), raw_x0, rtol=1e-5, atol=1e-5)
    bounds = (torch.full((2, 1, 1), -1.0), torch.full((2, 1, 1), 1.0))
    bounded = Denoiser(lambda x, t: out, sde, parameterization, x0_bounds=bounds)
    expected = raw_x0.clamp(-1.0, 1.0)
    inside = raw_x0.abs() <= 1
    assert torch.equal(bounded.x0(x, t)[~inside], expected[~inside]), "an x0 out of bounds becomes the bound"
    torch.testing.assert_close(bounded.x0(x, t), expected)
    alpha, sigma = expand_t(sde.alpha(t), x), expand_t(sde.sigma(t), x)
    torch.testing.assert_close(alpha * expected + sigma * bounded.eps(x, t), x)  # x = alpha x0 + sigma eps
    assert torch.equal(bounded.eps(x, t)[inside], plain.eps(x, t)[inside]), "eps unchanged within the bounds"
    torch.testing.assert_close(bounded.score(x, t), -bounded.eps(x, t) / sigma)


def test_clip_x0_is_refused_where_it_does_not_apply():
    with pytest.raises(ValueError) as err:
        model_with("fourier", clip_x0=1.0)
    assert str(err.value) == (
        "clip_x0 bounds the scaled window, but preprocessing 'fourier' diffuses another representation of it; "
        "use raw (or another time-domain preprocessing)"
    )
    with pytest.raises(ValueError) as err:
        DiffusionEstimator(freq="D", prediction_length=4, clip_x0=-1)
    assert str(err.value) == "clip_x0 must be None (off) or a number >= 0, got -1.0"


def test_trained_model_forecasts_lie_within_the_bounds(tmp_path):
    data = synthetic()
    torch.manual_seed(0)
    predictor = tiny_estimator(tmp_path, sampler_kwargs={"num_steps": 2, "denoise": True}).train(data)
    assert predictor.prediction_net.model.clip_x0 is None
    history = np.stack([d["target"][-CTX:] for d in data])  # the scaled context's bounds with k = 0: [min, max]
    low, high = history.min(1)[:, None, None], history.max(1)[:, None, None]

    def samples(p):
        torch.manual_seed(1)
        return np.stack([f.samples for f in p.predict(data, num_samples=16)])

    tol = 1e-4 * np.abs(history).max()
    free = samples(predictor)
    assert ((free < low - tol) | (free > high + tol)).any(), "without bounds the tiny model leaves the history's range"
    bounded = with_sampler(predictor, clip_x0=0.0)
    assert bounded.prediction_net.model.clip_x0 == 0.0 and predictor.prediction_net.model.clip_x0 is None
    clipped = samples(bounded)
    assert ((clipped >= low - tol) & (clipped <= high + tol)).all()
    assert DiffusionEstimator(freq="D", prediction_length=4, clip_x0=2).model_kwargs()["clip_x0"] == 2.0


def test_clip_x0_from_the_model_section_of_a_config():
    config = with_change("model", {"clip_x0": 1.5})
    assert DiffusionEstimator(**estimator_kwargs(validate_config(config), "H", 48)).clip_x0 == 1.5
    with pytest.raises(ConfigError) as err:
        validate_config(with_change("model", {"clip_x0": -1}))
    assert str(err.value) == "model.clip_x0 must be >= 0, got -1.0"
