"""Conditional generation on any mask (CSDI): the training masks, and a model that forecasts and imputes."""

import pytest
import torch
from test_config_validation import with_change
from test_model_features import ARCHITECTURES, PRED, batch_inputs, make_model, randomize_zero_params

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.core.masks import (
    bridge_spread,
    history_keep_mask,
    linear_fill,
    seasonal_fill,
    window_known_mask,
)
from gluonts_diffusion.experiments.config import estimator_kwargs, validate_config
from gluonts_diffusion.model.module import DiffusionModel
from gluonts_diffusion.model.specs import component_spec


# --------------------------------------------------------------------------- masks
def masks(probabilities, shape=(4000, 12, 2), seed=0):
    return window_known_mask(shape, probabilities, generator=torch.Generator().manual_seed(seed))


def test_forecast_rows_give_nothing():
    assert masks((1, 0, 0)).sum() == 0


def test_random_rows_hide_each_entry_at_a_rate_uniform_in_0_1():
    known = masks((0, 1, 0))
    rates = 1 - known.mean(dim=(1, 2))
    assert abs(float(known.mean()) - 0.5) < 0.02  # E[1 - U] = 1/2
    assert float(rates.std()) > 0.25  # one rate per row, spread over (0, 1): std of U(0, 1) is 0.289
    assert not torch.equal(known[:, :, 0], known[:, :, 1])  # entries, not steps


def test_block_rows_hide_one_run_of_steps_in_every_channel():
    known = masks((0, 0, 1))
    assert torch.equal(known[:, :, 0], known[:, :, 1])
    hidden = 1 - known[:, :, 0]
    assert bool((hidden.sum(1) >= 1).all())
    starts = (hidden[:, 1:] - hidden[:, :-1] > 0).sum(1) + hidden[:, 0]
    assert bool((starts == 1).all())  # one contiguous run per row
    lengths = hidden.sum(1)
    assert int(lengths.min()) == 1 and int(lengths.max()) == 12  # every size 1..length occurs


def test_strategies_are_drawn_with_their_probabilities():
    known = masks((0.5, 0.25, 0.25), shape=(8000, 12, 1))
    forecast_rows = (known.sum(dim=(1, 2)) == 0).float().mean()
    # random rows give nothing with probability ~1/13 (every draw below the rate), block rows never do
    assert abs(float(forecast_rows) - (0.5 + 0.25 / 13)) < 0.02


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError) as err:
        window_known_mask((2, 3, 1), (0.5, 0.5))
    assert str(err.value) == "probabilities must be 3 numbers >= 0 with a positive sum"


def test_history_keep_mask_rates():
    g = torch.Generator().manual_seed(0)
    assert history_keep_mask((500, 30), row_probability=0.0, generator=g).min() == 1
    keep = history_keep_mask((4000, 30, 2), generator=g)
    dropped_rows = (keep.mean(dim=(1, 2)) < 1).float().mean()
    assert abs(float(1 - keep.mean()) - 0.5 * 0.25) < 0.01  # a half of the rows, rate U(0, 0.5): mean 1/8
    assert 0.45 < float(dropped_rows) < 0.55


def test_linear_fill_known_answer():
    values = torch.tensor([[0.0, 10.0, 0.0, 0.0, 40.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]).unsqueeze(-1)
    known = torch.tensor([[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]]).unsqueeze(-1)
    filled = linear_fill(values, known).squeeze(-1)
    torch.testing.assert_close(filled[0], torch.tensor([10.0, 10.0, 20.0, 30.0, 40.0, 40.0]))
    assert filled[1].abs().sum() == 0  # nothing known: 0


def test_seasonal_fill_known_answer():
    """Season 4: a season back, else forward, then two seasons out; the interpolation where no season is known."""
    values = torch.arange(12.0).view(1, 12, 1)
    known = torch.ones(1, 12, 1)
    known[0, [1, 5, 6, 11]] = 0
    torch.testing.assert_close(seasonal_fill(values, known, 4).squeeze()[[1, 5, 6, 11]], torch.tensor([9.0, 9, 2, 7]))
    sparse = torch.zeros(1, 12, 1)
    sparse[0, [0, 3]] = 1
    expected = torch.tensor([0.0, 1, 2, 3, 0, 3, 3, 3, 0, 3, 3, 3])  # steps 1, 2, 5: linear (3 on after the last)
    torch.testing.assert_close(seasonal_fill(values, sparse, 4).squeeze(), expected)


def test_bridge_spread_known_answer():
    """Known steps 0-1-2 (mean |step| 1), a gap of three before 6, two steps after the last known value: a
    Brownian bridge between known entries (step * sqrt(d1 d2 / (d1 + d2))), a random walk beyond them
    (step * sqrt(d)), at most 1."""
    values = torch.tensor([[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 6.0, 0.0, 0.0]]).unsqueeze(-1)
    known = torch.tensor([[1, 1, 1, 0, 0, 0, 1, 0, 0]]).unsqueeze(-1)
    hidden = torch.tensor([0.75**0.5, 1, 0.75**0.5, 1, 2**0.5])  # steps 3, 4, 5, 7, 8
    is_hidden = known.squeeze() == 0
    tenth = bridge_spread(values / 10, known).squeeze()  # in units of the known steps
    torch.testing.assert_close(tenth[is_hidden], hidden / 10)
    assert bool((tenth[~is_hidden] == 1).all())
    torch.testing.assert_close(bridge_spread(values, known).squeeze()[is_hidden], hidden.clamp_max(1))  # at most 1
    flat = bridge_spread(torch.zeros(1, 9, 1), known).squeeze()  # no movement: the step is floored at 0.05
    torch.testing.assert_close(flat[is_hidden], 0.05 * hidden)
    assert bool((bridge_spread(values, torch.zeros_like(known)) == 1).all())  # nothing known


# --------------------------------------------------------------------------- the model
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_given_window_values_come_back_and_condition_the_rest(architecture):
    model = make_model(architecture, imputation=True)
    randomize_zero_params(model)
    model.eval()
    inputs = batch_inputs(model, batch=3)
    target = inputs.pop("future_target")
    inputs.pop("future_observed_values")
    known = torch.zeros_like(target)
    known[:, ::2] = 1.0

    def draw(**extra):
        with torch.no_grad():
            return model(**inputs, generator=torch.Generator().manual_seed(0), **extra)

    given = draw(future_target=target, future_known=known)
    assert given.shape == (3, 3, PRED)
    torch.testing.assert_close(given[:, :, ::2], target[:, None, ::2].expand(-1, 3, -1), rtol=0, atol=0)
    forecast = draw()
    assert not torch.equal(given[:, :, 1::2], forecast[:, :, 1::2])  # the given values reach the network
    torch.testing.assert_close(draw(future_target=target, future_known=torch.zeros_like(known)), forecast)


def test_imputation_adds_the_known_values_their_mask_and_their_interpolation_as_future_features():
    plain, imputing = make_model(), make_model(imputation=True)
    assert imputing.shapes.future_dim == plain.shapes.future_dim + 3
    assert make_model(target_dim=3, imputation=True).shapes.future_dim == make_model(target_dim=3).shapes.future_dim + 9
    seasonal = make_model(target_dim=3, imputation=True, imputation_season=2)
    assert seasonal.shapes.future_dim == make_model(target_dim=3).shapes.future_dim + 12  # + the seasonal fill


def test_multivariate_given_entries_come_back():
    model = make_model(target_dim=3, imputation=True)
    model.eval()
    inputs = batch_inputs(model, batch=2)
    target = inputs.pop("future_target")
    inputs.pop("future_observed_values")
    known = (torch.rand(target.shape, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    with torch.no_grad():
        y = model(**inputs, future_target=target, future_known=known)
    assert y.shape == (2, 3, PRED, 3)
    mask = known[:, None].expand_as(y) > 0
    torch.testing.assert_close(y[mask], target[:, None].expand_as(y)[mask], rtol=0, atol=0)


def test_a_model_without_imputation_refuses_window_values():
    model = make_model()
    model.eval()
    inputs = batch_inputs(model)
    target = inputs.pop("future_target")
    inputs.pop("future_observed_values")
    with pytest.raises(ValueError) as err:
        model(**inputs, future_target=target, future_known=torch.ones_like(target))
    assert str(err.value) == (
        "this model was not trained to condition on window values (imputation is off); train it with imputation: true"
    )


def test_imputation_needs_a_time_domain_preprocessing():
    spec = component_spec({"preprocessing": "fourier"}, {})
    with pytest.raises(ValueError) as err:
        DiffusionModel(PRED, 8, spec, imputation=True)
    assert str(err.value) == (
        "imputation conditions on window values, but preprocessing 'fourier' diffuses another representation of it; "
        "use raw (or another time-domain preprocessing)"
    )


def test_masks_are_drawn_only_while_training(monkeypatch):
    import gluonts_diffusion.model.module as module

    model = make_model(imputation=True)
    inputs = batch_inputs(model, batch=4)
    drawn = []
    for name in ("window_known_mask", "history_keep_mask"):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name, **k: drawn.append(name) or real(*a, **k))
    model.eval()
    model.loss(**inputs)
    assert drawn == []  # validation losses are forecasting losses
    model.train()
    model.loss(**inputs)
    assert sorted(drawn) == ["history_keep_mask", "window_known_mask"]


def test_future_known_needs_future_target():
    model = make_model(imputation=True)
    model.eval()
    inputs = batch_inputs(model)
    target = inputs.pop("future_target")
    inputs.pop("future_observed_values")
    with pytest.raises(ValueError) as err:
        model(**inputs, future_known=torch.ones_like(target))
    assert str(err.value) == "future_known marks entries of future_target: give future_target too"


def test_imputation_from_a_config_and_in_the_model_arguments():
    config = validate_config(with_change("model", {"imputation": True}))
    estimator = DiffusionEstimator(**estimator_kwargs(config, "H", 48))
    assert estimator.imputation is True and estimator.model_kwargs()["imputation"] is True
    assert DiffusionEstimator(freq="D", prediction_length=4).model_kwargs()["imputation"] is False


def test_given_window_values_count_in_the_scale():
    model = make_model(imputation=True)
    inputs = batch_inputs(model, batch=2)
    target = 1000.0 * inputs.pop("future_target")
    inputs.pop("future_observed_values")
    inputs["past_observed_values"][0] = 0.0  # series 0: no history at all
    known = torch.ones_like(target)
    known[:, 0] = 0.0
    target[:, 0] = float("nan")  # a missing value, whatever it holds, is not data
    plain = model.condition(**inputs)[2]
    given = model.condition(**inputs, future_target=target, future_known=known)[2]
    expected = target[0, 1:].std(unbiased=False)
    torch.testing.assert_close(given["scale"][0].squeeze(), expected)
    assert float(plain["scale"][0]) == 1.0  # unobserved history alone: the fallback scale
    assert float(given["scale"][1]) > 10 * float(plain["scale"][1])  # the history is ~5, the window ~5000


def _every_other_step_given(model, batch=2):
    inputs = batch_inputs(model, batch=batch)
    known = torch.zeros_like(inputs["future_target"])
    known[:, ::2] = 1.0
    return inputs, known


@pytest.mark.parametrize("anchor", ["linear", "bridge", "none"])
def test_a_sampler_that_returns_zeros_gives_the_anchor(monkeypatch, anchor):
    """The window is diffused relative to its anchor: a zero sample is the linear interpolation of the given
    values (``linear``, ``bridge``), or the scale's location (``none``, gluonts-diffusion 0.3.0)."""
    model = make_model(imputation=True, imputation_anchor=anchor)
    model.eval()
    inputs, known = _every_other_step_given(model)
    target = inputs.pop("future_target")
    inputs.pop("future_observed_values")
    monkeypatch.setattr(model, "sampler", lambda denoiser, shape, *a, **k: torch.zeros(shape))
    with torch.no_grad():
        y = model(**inputs, future_target=target, future_known=known)
    hidden = y[:, :, 1:-1:2]  # between two given steps
    if anchor != "none":
        expected = (target[:, :-2:2] + target[:, 2::2]) / 2
        torch.testing.assert_close(hidden, expected[:, None].expand_as(hidden))
    else:
        state = model.condition(**inputs, future_target=target, future_known=known)[2]
        torch.testing.assert_close(hidden, state["loc"].view(-1, 1, 1).expand_as(hidden))


def _training_window(monkeypatch, anchor):
    """The diffused window ``x0`` (batch, PRED) of a training batch whose every other window step is given."""
    import gluonts_diffusion.model.module as module

    model = make_model(imputation=True, imputation_anchor=anchor)
    model.train()
    inputs, known = _every_other_step_given(model)
    monkeypatch.setattr(module, "window_known_mask", lambda shape, **k: known.unsqueeze(-1))
    monkeypatch.setattr(module, "history_keep_mask", lambda shape, **k: torch.ones(shape))
    return model, inputs, known, model._training_inputs(**inputs)[2].squeeze(-1)


def test_the_diffused_window_is_its_residual_from_the_interpolation(monkeypatch):
    model, inputs, known, x0 = _training_window(monkeypatch, "linear")
    past = {k: v for k, v in inputs.items() if k != "future_observed_values"}
    state = model.condition(**past, future_known=known)[2]  # the given values count in the scale
    scaled = (inputs["future_target"] - state["loc"].squeeze(-1)) / state["scale"].squeeze(-1)
    torch.testing.assert_close(x0[:, ::2], torch.zeros_like(x0[:, ::2]))  # given entries: exactly on the line
    expected = scaled[:, 1:-1:2] - (scaled[:, :-2:2] + scaled[:, 2::2]) / 2
    torch.testing.assert_close(x0[:, 1:-1:2], expected)


def test_the_bridge_anchor_divides_by_the_bridge_spread(monkeypatch):
    """Window steps 0 and 2 given (PRED = 4): step 1 is a gap of one between them (spread step * sqrt(1/2)), step 3
    one step after the last given one (step * 1), with ``step`` the mean |move| between known neighbours of the
    scaled context and the given window values."""
    model, inputs, known, bridge = _training_window(monkeypatch, "bridge")
    linear = _training_window(monkeypatch, "linear")[3]
    past = {k: v for k, v in inputs.items() if k != "future_observed_values"}
    _, _, state, scaled, _ = model.condition(**past, future_known=known)
    window = (inputs["future_target"] - state["loc"].squeeze(-1)) / state["scale"].squeeze(-1)
    context = scaled[:, model.context_window].squeeze(-1)
    moves = torch.cat([context.diff(dim=1), window[:, :1] - context[:, -1:]], 1).abs()  # the known pairs
    step = moves.mean(1).clamp_min(0.05)
    torch.testing.assert_close(bridge[:, ::2], torch.zeros_like(bridge[:, ::2]))
    torch.testing.assert_close(linear[:, 1] / bridge[:, 1], (step * 0.5**0.5).clamp_max(1))
    torch.testing.assert_close(linear[:, 3] / bridge[:, 3], step.clamp_max(1))


def test_the_estimator_sets_the_season_of_the_seasonal_feature():
    hourly = DiffusionEstimator(freq="H", prediction_length=24, imputation=True)
    assert hourly.model_kwargs()["imputation_season"] == 24
    assert DiffusionEstimator(freq="H", prediction_length=24).model_kwargs()["imputation_season"] is None  # off
    assert DiffusionEstimator(freq="D", prediction_length=7, imputation=True).imputation_season() is None  # 1
    with pytest.raises(ValueError) as err:
        make_model(imputation=True, imputation_season=1)
    assert str(err.value) == "imputation_season must be None or an integer >= 2, got 1"


def test_an_unknown_anchor_is_refused():
    with pytest.raises(ValueError) as err:
        make_model(imputation=True, imputation_anchor="seasonal")
    assert str(err.value) == "imputation_anchor must be one of ('linear', 'bridge', 'none'), got 'seasonal'"
    with pytest.raises(ValueError) as err:
        DiffusionEstimator(freq="D", prediction_length=4, imputation="seasonal")
    assert str(err.value) == "imputation must be true, false or one of linear, bridge, none, got 'seasonal'"


@pytest.mark.parametrize("option, anchor", [(True, "bridge"), ("linear", "linear"), ("none", "none")])
def test_the_estimator_chooses_the_anchor(option, anchor):
    estimator = DiffusionEstimator(freq="D", prediction_length=4, imputation=option)
    assert estimator.imputation is True and estimator.model_kwargs()["imputation_anchor"] == anchor
