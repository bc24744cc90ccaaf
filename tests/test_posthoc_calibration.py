"""Post-hoc spread calibration (``model/calibration.py``): known answers on a toy predictor whose spread is off by a
known factor, fitted only on validation windows (a poisoned test split changes nothing), saved with the predictor,
refused where it would be lost, and the config's error lines."""

import numpy as np
import pandas as pd
import pytest
import torch
from gluonts.transform import MapTransformation
from test_validation_windows import copy_series
from tiny import quiet_trainer, synthetic, tiny_config, tiny_estimator

from gluonts_diffusion import calibrate, load_predictor
from gluonts_diffusion.data.validation import validation_split
from gluonts_diffusion.experiments.config import ConfigError, validate_config
from gluonts_diffusion.experiments.runner import ExperimentRunner
from gluonts_diffusion.model.calibration import coverage, forecast_windows
from gluonts_diffusion.model.export import ExportError, export_model
from gluonts_diffusion.model.predictor import DiffusionPredictor
from gluonts_diffusion.model.resampling import with_sampler

H, HISTORY = 8, 400


class PastTarget(MapTransformation):
    """The toy predictor's inputs: the whole history as ``past_target``, and where the forecast starts."""

    def map_transform(self, data, is_train):
        target = np.asarray(data["target"], dtype=np.float32)
        data["past_target"] = target[-HISTORY:]
        data["forecast_start"] = data["start"] + len(target)
        return data


class GaussianNet(torch.nn.Module):
    """Samples ``N(mean, (width * std)^2)`` of the history: the truth's spread times ``width``."""

    def __init__(self, width):
        super().__init__()
        self.width = width

    def forward(self, past_target, num_parallel_samples=100, generator=None):
        mean, std = past_target.mean(-1), past_target.std(-1)
        z = torch.randn(past_target.shape[0], num_parallel_samples, H, generator=generator)
        return mean[:, None, None] + self.width * std[:, None, None] * z


def toy_predictor(width):
    return DiffusionPredictor(["past_target"], GaussianNet(width), 16, H, PastTarget(), freq="D", device="cpu")


def gaussian_series(n, seed):
    """``n`` series of iid ``N(level, scale^2)`` values, each with its own level and scale."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        level, scale = rng.uniform(5, 50), rng.uniform(0.5, 5)
        target = level + scale * rng.standard_normal(HISTORY + 2 * H)
        out.append({"start": pd.Period("2020-01-01", "D"), "target": target.astype(np.float32), "item_id": str(i)})
    return out


@pytest.mark.parametrize("width, expected", [(0.5, 2.0), (2.0, 0.5)])
def test_spread_factors_undo_a_known_shrinkage_and_restore_coverage(width, expected):
    split = validation_split(gaussian_series(200, seed=0), H)
    predictor = toy_predictor(width)
    calibrated = calibrate(predictor, split, num_samples=200, seed=0, pool=2)
    factors = np.asarray(calibrated.calibration["factors"])
    assert factors.shape == (H,)
    np.testing.assert_allclose(factors, expected, rtol=0.08)  # 200 windows x 3-5 pooled steps x 200 samples
    assert calibrated.calibration["val_crps_after"] < calibrated.calibration["val_crps_before"]
    fresh = validation_split(gaussian_series(80, seed=1), H).validation  # unseen series
    before = coverage(*forecast_windows(predictor, fresh, 200, 1), 0.8)
    after = coverage(*forecast_windows(calibrated, fresh, 200, 1), 0.8)
    assert abs(before - 0.8) > 0.15 and abs(after - 0.8) < 0.04, (before, after)
    assert predictor.calibration is None  # the original predictor is left as it was


def test_calibrate_errors():
    split = validation_split(gaussian_series(2, seed=0), H)
    with pytest.raises(ValueError) as err:
        calibrate(toy_predictor(1.0), split, method="isotonic")
    assert str(err.value) == "calibrate: unknown method 'isotonic'; known methods: spread, quantile"
    with pytest.raises(ValueError) as err:
        calibrate(toy_predictor(1.0), [])
    assert str(err.value) == (
        "calibrate: no validation windows; pass validation_split(train, prediction_length) "
        "(gluonts_diffusion.data.validation), whose windows are the last steps of the training series"
    )
    with pytest.raises(ValueError) as err:
        calibrate(toy_predictor(1.0), validation_split(gaussian_series(2, seed=0), H + 1))
    assert str(err.value) == (
        "calibrate: the validation windows have 9 steps, the predictor forecasts 8: "
        "split the training data with prediction_length=8"
    )


@pytest.mark.parametrize(
    "training, line",
    [
        (
            {"validation": True, "calibration": "isotonic"},
            "training.calibration must be false or one of spread, quantile, got 'isotonic'",
        ),
        (
            {"calibration": "spread"},
            "training.calibration is fitted on the validation windows: set training.validation too",
        ),
    ],
)
def test_config_errors(training, line):
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_config(training=training))
    assert str(err.value) == line


@pytest.mark.parametrize("method", ["spread", "quantile"])
def test_saved_calibration_gives_identical_forecasts_and_export_refuses(tmp_path, method):
    data = synthetic(4, 80, freq="D")
    split = validation_split(data, 6)
    predictor = tiny_estimator(quiet_trainer(tmp_path), freq="D", prediction_length=6).train(split.train)
    calibrated = calibrate(predictor, split, method=method, num_samples=8, seed=0)
    calibrated.serialize(tmp_path / "saved")
    loaded = load_predictor(tmp_path / "saved")
    assert loaded.calibration == calibrated.calibration and loaded.calibration["method"] == method
    same = [f.samples for f in loaded.predict(data, seed=3)]
    for a, b, raw in zip([f.samples for f in calibrated.predict(data, seed=3)], same, predictor.predict(data, seed=3)):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, raw.samples)  # the factors are applied
    assert with_sampler(loaded, num_parallel_samples=4).calibration == loaded.calibration  # the same law
    with pytest.warns(UserWarning, match="with_sampler: the calibration was fitted to the old sampler's forecasts"):
        assert with_sampler(loaded, sampler_kwargs={"num_steps": 2}).calibration is None
    with pytest.raises(ExportError) as err:
        export_model(loaded, tmp_path / "onnx")
    assert str(err.value).startswith("export_model: the predictor is calibrated (predictor.calibration)")
    assert "DiffusionPredictor.from_predictor(predictor, output_transform=None)" in str(err.value)
    assert DiffusionPredictor.from_predictor(loaded, output_transform=None).calibration is None  # what it says


def factors_of(dataset_path, out):
    config = tiny_config(training={**tiny_config()["training"], "validation": True, "calibration": "spread"})
    config["data"] = {"dataset": "m4_hourly", "history_len": 96}
    config["evaluation"] = {"num_samples": 8, "baselines": []}
    result = ExperimentRunner(config, dataset_path=dataset_path, output_dir=out).run()
    assert result.splits["calibration"].startswith("spread, fitted on the validation windows")
    return load_predictor(f"{result.run_dir}/predictor").calibration["factors"]


def test_run_fits_on_validation_windows_only(data_dir, tmp_path):
    clean = copy_series(data_dir, tmp_path / "clean")
    poisoned = copy_series(data_dir, tmp_path / "poisoned", poison=["NaN", 1e30] * 24)
    assert factors_of(poisoned, tmp_path / "run_poisoned") == factors_of(clean, tmp_path / "run_clean")


@pytest.mark.parametrize("method", ["spread", "quantile"])
def test_unseeded_forecasts_are_rescaled_around_the_median_of_all_their_paths(method):
    """The factors were fitted on all paths of a window at once: asked for more paths than one network call draws
    (the toy's 100), the calibration still sees them all together, not call by call."""
    data = gaussian_series(6, seed=4)
    calibrated = calibrate(toy_predictor(0.5), validation_split(data, H), method=method, num_samples=50, seed=0)
    seen = []
    transform = calibrated.output_transform
    calibrated.output_transform = lambda entry, output: seen.append(output.shape) or transform(entry, output)
    forecasts = list(calibrated.predict(data, num_samples=250))
    assert [f.samples.shape for f in forecasts] == [(250, H)] * 6
    assert seen and all(shape[1] == 250 for shape in seen)
