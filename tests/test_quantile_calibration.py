"""Quantile (PIT) recalibration (``calibrate(..., method="quantile")``, ``model/quantile_calibration.py``): known
answers on toy forecasters whose spread or shape is off (Gaussian paths too narrow or too wide, Laplace paths for
Gaussian truths): fitted on one set of validation windows, the coverage of fresh windows is nominal; a calibrated
forecaster is left nearly as it was; every path keeps its rank; a mismatched horizon is refused."""

import logging

import numpy as np
import pytest
import torch
from scipy.special import ndtri
from test_posthoc_calibration import GaussianNet, H, PastTarget, gaussian_series, toy_predictor
from tiny import quiet_trainer, synthetic, tiny_config, tiny_estimator

from gluonts_diffusion import DiffusionEstimator, calibrate
from gluonts_diffusion.data.validation import validation_split
from gluonts_diffusion.experiments.config import calibration_method, validate_config
from gluonts_diffusion.model.calibration import AUTO_MIN_WINDOWS, calibration_windows, coverage, forecast_windows
from gluonts_diffusion.model.predictor import DiffusionPredictor
from gluonts_diffusion.model.quantile_calibration import probit_scores, quantile_at


class LaplaceNet(GaussianNet):
    """Laplace paths with the history's mean and std: the right spread, the wrong shape for Gaussian truths
    (the central 50% interval too narrow, the 90% one about right)."""

    def forward(self, past_target, num_parallel_samples=100, generator=None):
        mean, std = past_target.mean(-1), past_target.std(-1)
        u = torch.rand(past_target.shape[0], num_parallel_samples, H, generator=generator) - 0.5
        z = -torch.sign(u) * torch.log1p(-2 * u.abs()) / np.sqrt(2)  # unit-variance Laplace
        return mean[:, None, None] + std[:, None, None] * z


def predictor_of(kind):
    if kind == "laplace":
        return DiffusionPredictor(["past_target"], LaplaceNet(1.0), 16, H, PastTarget(), freq="D", device="cpu")
    return toy_predictor(kind)


def coverages(predictor, windows):
    samples, truth = forecast_windows(predictor, windows, 200, 1)
    return np.array([coverage(samples, truth, level) for level in (0.5, 0.8, 0.9)])


@pytest.mark.parametrize("kind", [0.5, 2.0, "laplace"])
def test_quantile_map_restores_nominal_coverage_on_fresh_windows(kind):
    predictor = predictor_of(kind)
    calibrated = calibrate(predictor, validation_split(gaussian_series(200, seed=0), H), "quantile", 200, seed=0)
    fresh = validation_split(gaussian_series(300, seed=1), H).validation  # unseen series: 2400 cells
    before, after = coverages(predictor, fresh), coverages(calibrated, fresh)
    assert np.abs(before - [0.5, 0.8, 0.9]).max() > 0.1, before
    assert np.abs(after - [0.5, 0.8, 0.9]).max() < 0.03, after
    fit = calibrated.calibration
    assert fit["method"] == "quantile" and fit["pool"] == "all steps" and len(fit["knots"]) == 1
    assert fit["val_calibration_error_after"] < fit["val_calibration_error_before"]


def test_a_calibrated_forecaster_is_left_nearly_unchanged_and_ranks_are_kept():
    split = validation_split(gaussian_series(200, seed=0), H)
    calibrated = calibrate(toy_predictor(1.0), split, "quantile", 200, seed=0)
    levels, knots = np.array(calibrated.calibration["levels"]), np.array(calibrated.calibration["knots"])
    assert knots.shape == (1, 41)  # one map for all steps (pool=2: one per step, from the step and 2 each side)
    assert np.shape(calibrate(toy_predictor(1.0), split, "quantile", 20, pool=2).calibration["knots"]) == (H, 41)
    gap = np.abs(ndtri(knots[0]) - ndtri(levels))  # R^-1 against the identity, in probit units (1600 PITs)
    assert gap[np.abs(ndtri(levels)) < 1.3].max() < 0.15 and gap.max() < 0.25, gap  # levels 0.1-0.9; 0.012-0.988
    paths = np.random.default_rng(0).standard_normal((3, 200, H))
    moved = calibrated.output_transform(None, paths)
    assert np.quantile(np.abs(moved - paths), 0.95) < 0.2  # (the extreme paths move more: tail knots are noisier)
    np.testing.assert_array_equal(np.argsort(moved, axis=1), np.argsort(paths, axis=1))
    wide = calibrate(toy_predictor(2.0), split, "quantile", 200, seed=0).output_transform(None, paths)
    np.testing.assert_array_equal(np.argsort(wide, axis=1), np.argsort(paths, axis=1))
    assert 0.4 < wide.std() / paths.std() < 0.6  # the paths are pulled in by the factor they were too wide


def test_pit_scores_and_quantiles_by_hand():
    ranked = np.array([[0.0, 1.0, 2.0, 3.0]])  # at the mid-rank levels 1/8, 3/8, 5/8, 7/8
    knots = ndtri(np.array([1, 3, 5, 7]) / 8)
    np.testing.assert_allclose(probit_scores(ranked, np.array([1.0])), knots[1:2])  # a sample: its own level
    np.testing.assert_allclose(probit_scores(ranked, np.array([1.5])), [0.0], atol=1e-12)  # halfway: the median
    tied = np.array([[0.0, 1.0, 1.0, 3.0]])
    np.testing.assert_allclose(probit_scores(tied, np.array([1.0])), [0.0], atol=1e-12)  # ties: their middle level
    slope = 1.0 / (knots[1] - knots[0])  # below the samples: the outer segment's slope, straight on
    np.testing.assert_allclose(probit_scores(ranked, np.array([-1.0])), [knots[0] - 1.0 / slope])
    np.testing.assert_allclose(quantile_at(ranked, np.array([[knots[0] - 1.0 / slope, 0.0, knots[3]]])), [[-1, 1.5, 3]])


def test_a_mismatched_horizon_is_refused():
    calibrated = calibrate(toy_predictor(1.0), validation_split(gaussian_series(4, seed=0), H), "quantile", 20)
    with pytest.raises(ValueError) as err:
        calibrated.output_transform(None, np.zeros((1, 20, H + 1)))
    assert str(err.value) == (
        "the calibration was fitted on 8 steps, the forecasts have 9: calibrate the predictor again"
    )


def test_config_accepts_the_quantile_method():
    config = validate_config(tiny_config(training={"validation": True, "calibration": "quantile"}))
    assert calibration_method(config) == "quantile"


def test_a_step_without_observed_truths_keeps_the_identity_map():
    from gluonts_diffusion.model.quantile_calibration import fit_quantile_map

    rng = np.random.default_rng(0)
    samples = rng.normal(size=(20, 50, 3, 1))
    truth = rng.normal(size=(20, 3, 1))
    truth[:, 2] = np.nan  # the last step is missing in every window
    levels, knots = fit_quantile_map(samples, truth, pool=0, levels=11)
    np.testing.assert_allclose(knots[2], levels)
    assert not np.allclose(knots[0], levels)  # an observed step gets its own map


def test_calibration_windows_per_series():
    assert [calibration_windows(n) for n in (1, 3, 4, 16, 414)] == [5, 5, 4, 1, 1]


@pytest.fixture
def seen(monkeypatch):
    """What GluonTS's ``train`` (under ``DiffusionEstimator.train``) was given: ``train`` and ``validation``."""
    seen = {}
    real_train = DiffusionEstimator.__mro__[1].train

    def spy(self, training_data, validation_data=None, **kwargs):
        seen["train"], seen["validation"] = list(training_data), validation_data
        return real_train(self, training_data, validation_data, **kwargs)

    monkeypatch.setattr(DiffusionEstimator.__mro__[1], "train", spy)
    return seen


@pytest.mark.parametrize("given", [False, True])
def test_the_estimator_calibrates_on_held_out_or_given_windows(tmp_path, seen, given):
    """``DiffusionEstimator(calibration=...)``: without validation data the last windows of each training
    series are held out of training (they choose the checkpoint) and fit the map; given validation data fits it."""
    data = synthetic(2, 80)
    estimator = tiny_estimator(quiet_trainer(tmp_path), freq="D", prediction_length=7, calibration="quantile")
    validation = synthetic(2, 80, seed=1) if given else None
    predictor = estimator.train(data, validation)
    assert predictor.calibration["method"] == "quantile"
    if given:
        assert [len(e["target"]) for e in seen["train"]] == [80, 80] and len(seen["validation"]) == 2
        assert predictor.calibration["windows"] == 2
    else:  # 2 series: 5 windows of 7 steps each held out, the training series end before them
        assert [len(e["target"]) for e in seen["train"]] == [80 - 35] * 2 and len(seen["validation"]) == 10
        assert predictor.calibration["windows"] == 10


def test_an_unknown_estimator_calibration_is_refused():
    with pytest.raises(ValueError) as err:
        DiffusionEstimator(freq="D", prediction_length=4, calibration="isotonic")
    assert str(err.value) == "calibration: unknown method 'isotonic'; known methods: auto, spread, quantile"
    assert DiffusionEstimator(freq="D", prediction_length=4).calibration == "auto"  # the default


def test_calibration_without_windows_to_hold_out_is_refused_before_training(tmp_path, monkeypatch):
    estimator = tiny_estimator(quiet_trainer(tmp_path), freq="D", prediction_length=7, calibration="quantile")
    monkeypatch.setattr(DiffusionEstimator.__mro__[1], "train", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError) as err:
        estimator.train(synthetic(2, 14))  # 2 * prediction_length: nothing can be held out
    assert str(err.value) == (
        "calibration='quantile': no training series is longer than 2 * prediction_length (14) to hold a window out "
        "of; pass validation_data"
    )
    assert DiffusionEstimator(freq="D", prediction_length=4, calibration=False).calibration is None


@pytest.mark.parametrize("given", [False, True])
@pytest.mark.parametrize("num_series", [AUTO_MIN_WINDOWS, AUTO_MIN_WINDOWS - 1])
def test_auto_calibration_fits_the_quantile_map_on_windows_of_enough_series_only(
    tmp_path, seen, caplog, num_series, given
):
    """The default ``calibration="auto"`` holds out one window of each series (or takes the validation data given)
    and fits the quantile map when they come from AUTO_MIN_WINDOWS (52) series; with fewer it trains on what it was
    given, uncalibrated, and logs why."""
    caplog.set_level(logging.INFO, logger="gluonts_diffusion.model.calibration")
    data = synthetic(num_series, 40)
    if not given:  # one pass: without validation data the estimator reads the training data once, into a list
        data = (entry for entry in data)
    validation = synthetic(num_series, 47, seed=1) if given else None
    estimator = tiny_estimator(quiet_trainer(tmp_path), freq="D", prediction_length=7, calibration="auto")
    predictor = estimator.train(data, validation)
    lengths = {len(e["target"]) for e in seen["train"]}
    if num_series == AUTO_MIN_WINDOWS:
        assert predictor.calibration["method"] == "quantile" and predictor.calibration["windows"] == num_series
        assert lengths == {40 if given else 33} and len(seen["validation"]) == num_series
    else:
        assert predictor.calibration is None and lengths == {40} and len(seen["train"]) == num_series
        assert (seen["validation"] is None) is not given
        assert "calibration='auto': windows of 51 series to fit a map on, fewer than 52" in caplog.text
