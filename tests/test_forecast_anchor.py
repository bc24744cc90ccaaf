"""``forecast_anchor``: a forecasting model diffuses its window relative to the history's last observed value."""

import pytest
import torch
from test_config_validation import with_change
from test_model_features import PRED, batch_inputs, make_model

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.experiments.config import estimator_kwargs, validate_config
from gluonts_diffusion.model.given_window import forecast_anchor_state, window_features


def _zero_sample(monkeypatch, model, inputs):
    """What ``model`` forecasts when its sampler returns zeros in the diffused coordinates."""
    model.eval()
    monkeypatch.setattr(model, "sampler", lambda denoiser, shape, *a, **k: torch.zeros(shape))
    with torch.no_grad():
        return model(**inputs)


@pytest.mark.parametrize("anchor", ["linear", "bridge"])
def test_a_zero_sample_is_the_last_observed_value(monkeypatch, anchor):
    model = make_model(forecast_anchor=anchor)
    inputs = batch_inputs(model, batch=2, with_future=False)
    inputs["past_observed_values"][1, -1] = 0.0  # the second series' last value is missing: the one before counts
    y = _zero_sample(monkeypatch, model, inputs)
    last = torch.stack([inputs["past_target"][0, -1], inputs["past_target"][1, -2]])
    torch.testing.assert_close(y, last.view(2, 1, 1).expand_as(y))


def test_without_an_anchor_a_zero_sample_is_the_location(monkeypatch):
    model = make_model()
    inputs = batch_inputs(model, batch=2, with_future=False)
    y = _zero_sample(monkeypatch, model, inputs)
    loc = model.condition(**inputs)[2]["loc"].view(2, 1, 1)
    torch.testing.assert_close(y, loc.expand_as(y))


def test_the_bridge_window_is_the_change_in_random_walk_units():
    """x0 at ``h`` steps ahead = (scaled value - last scaled value) / min(step * sqrt(h), 1), ``step`` the mean
    |move| of the scaled context (at least 0.05); ``linear`` keeps the change alone."""
    inputs = batch_inputs(make_model(), batch=3)
    windows = {}
    for anchor in ("linear", "bridge"):
        model = make_model(forecast_anchor=anchor)
        model.train()
        windows[anchor] = model._training_inputs(**inputs)[2].squeeze(-1)
        state, scaled = model.condition(**{k: inputs[k] for k in model.describe_inputs()})[2:4]
    context = scaled[:, model.context_window].squeeze(-1)
    future = (inputs["future_target"] - state["loc"].squeeze(-1)) / state["scale"].squeeze(-1)
    torch.testing.assert_close(windows["linear"], future - context[:, -1:])
    step = context.diff(dim=1).abs().mean(1, keepdim=True).clamp_min(0.05)
    spread = (step * torch.arange(1, PRED + 1).sqrt()).clamp_max(1.0)
    torch.testing.assert_close(windows["bridge"], windows["linear"] / spread)


def test_bad_anchors_are_refused():
    with pytest.raises(ValueError) as err:
        make_model(forecast_anchor="seasonal")
    assert str(err.value) == "forecast_anchor must be one of ('linear', 'bridge', 'none'), got 'seasonal'"
    with pytest.raises(ValueError) as err:
        DiffusionEstimator(freq="D", prediction_length=4, imputation=True, forecast_anchor="bridge")
    assert str(err.value) == (
        "forecast_anchor 'bridge' is for forecasting models; an imputation model's anchor is given by imputation "
        "(true = bridge, linear or none)"
    )
    with pytest.raises(ValueError) as err:
        estimator = DiffusionEstimator(freq="D", prediction_length=8, preprocessing="wavelet", forecast_anchor="linear")
        estimator.create_lightning_module()
    assert str(err.value).startswith("forecast_anchor shifts the scaled window, but preprocessing 'wavelet'")


def test_the_anchor_from_a_config_reaches_the_model():
    config = validate_config(with_change("model", {"forecast_anchor": "bridge"}))
    estimator = DiffusionEstimator(**estimator_kwargs(config, "H", 48))
    assert estimator.model_kwargs()["forecast_anchor"] == "bridge"
    assert DiffusionEstimator(freq="D", prediction_length=4).model_kwargs()["forecast_anchor"] == "none"


def test_an_anchored_model_trains_and_samples():
    model = make_model(forecast_anchor="bridge")
    inputs = batch_inputs(model, batch=2)
    loss = model.loss(**inputs)
    assert loss.shape == (2,) and bool(torch.isfinite(loss).all())
    loss.mean().backward()
    model.eval()
    with torch.no_grad():
        y = model(**{k: inputs[k] for k in model.describe_inputs()})
    assert y.shape == (2, model.num_parallel_samples, PRED) and bool(torch.isfinite(y).all())


@pytest.mark.parametrize("anchor", ["linear", "bridge"])
def test_the_forecast_anchor_is_imputation_s_with_nothing_given(anchor):
    """The cummax-free anchor equals :func:`window_features`' (the imputation path) on histories with gaps, a
    missing last value and a channel with nothing observed."""
    g = torch.Generator().manual_seed(0)
    context = torch.randn(3, 10, 2, generator=g)
    observed = (torch.rand(3, 10, 2, generator=g) > 0.3).float()
    observed[0, -3:] = 0.0
    observed[1, :, 1] = 0.0
    expected = window_features(context * observed, observed, None, PRED, lambda x: x, anchor)[1]
    got = forecast_anchor_state(context * observed, observed, PRED, anchor)
    assert got.keys() == expected.keys()
    for key in got:
        torch.testing.assert_close(got[key], expected[key])
