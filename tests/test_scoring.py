"""The one scoring path and the one metric list: closed-form scores of oracle forecasters, the metric
definitions every table reads, and baselines run as ``baseline`` experiments."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gluonts.model.forecast import SampleForecast
from gluonts.model.predictor import Predictor
from tiny import tiny_config

from gluonts_diffusion.experiments import ExperimentResult
from gluonts_diffusion.experiments.baseline import BaselineExperiment
from gluonts_diffusion.experiments.leaderboard import COLUMNS
from gluonts_diffusion.experiments.runner import ExperimentRunner
from gluonts_diffusion.experiments.scoring import (
    METRICS,
    TABLE_METRICS,
    calibration,
    default_direction,
    is_known_metric,
    metrics_shown,
    objective_value,
    sample_crps,
    score,
)
from gluonts_diffusion.experiments.search import SearchConfigError, validate_search_config

HORIZON = 4


class ShiftedOracle(Predictor):
    """Every sample path is the true future plus ``shift``: a forecaster whose scores are known exactly."""

    def __init__(self, truth, shift):
        super().__init__(prediction_length=HORIZON)
        self.truth, self.shift = truth, shift

    def predict(self, dataset, num_samples=100, **kwargs):
        for entry in dataset:
            future = self.truth[entry["item_id"]] + self.shift
            start = entry["start"] + len(entry["target"])
            yield SampleForecast(np.tile(future, (num_samples, 1)), start_date=start, item_id=entry["item_id"])


def series(n=3, length=20):
    rng = np.random.default_rng(0)
    test = [
        {"start": pd.Period("2020-01-01", "D"), "target": 10 + rng.random(length), "item_id": str(i)} for i in range(n)
    ]
    return test, {e["item_id"]: e["target"][-HORIZON:] for e in test}


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_score_of_a_shifted_oracle_is_closed_form(shift):
    test, truth = series()
    metrics, forecasts, _, seconds = score(ShiftedOracle(truth, shift), test, num_samples=5, seed=0)
    total = sum(np.abs(t).sum() for t in truth.values())
    # point forecasts: CRPS = |error|, normalised by sum |target|; the quantile loss is the same
    expected = shift * len(test) * HORIZON / total
    assert metrics["sample_CRPS"] == pytest.approx(expected, abs=1e-9)
    assert metrics["mean_wQuantileLoss"] == pytest.approx(expected, abs=1e-6)
    # a degenerate interval covers the truth only when it is the truth
    assert metrics["coverage_50"] == metrics["coverage_80"] == metrics["coverage_90"] == (1.0 if shift == 0 else 0.0)
    # every quantile is the truth (share below = 1 at every level) or above it (share below = 0)
    levels = np.arange(1, 20) * 0.05
    expected_error = np.mean(1 - levels) if shift == 0 else np.mean(levels)
    assert metrics["calibration_error"] == pytest.approx(expected_error) and metrics["sharpness"] == 0.0
    assert len(forecasts) == len(test) and seconds >= 0


class MultivariateOracle(ShiftedOracle):
    def predict(self, dataset, num_samples=100, **kwargs):
        for entry in dataset:
            future = self.truth[entry["item_id"]].T + self.shift  # (horizon, dim)
            start = entry["start"] + entry["target"].shape[-1]
            yield SampleForecast(np.tile(future, (num_samples, 1, 1)), start_date=start, item_id=entry["item_id"])


def test_score_of_a_multivariate_target_adds_crps_sum_not_sample_crps():
    test = [{"start": pd.Period("2020-01-01", "D"), "target": 10 + np.arange(40.0).reshape(2, 20), "item_id": "0"}]
    truth = {"0": test[0]["target"][:, -HORIZON:]}
    metrics, *_ = score(MultivariateOracle(truth, 0.0), test, num_samples=2, seed=0, target_dim=2)
    assert "sample_CRPS" not in metrics and metrics["m_sum_mean_wQuantileLoss"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["coverage_90"] == 1.0


def test_one_metric_list_feeds_tables_leaderboards_and_search():
    keys = [m.key for m in METRICS]
    assert len(keys) == len(set(keys))
    assert TABLE_METRICS == (
        "mean_wQuantileLoss",
        "sample_CRPS",
        "MASE",
        "sMAPE",
        "ND",
        "NRMSE",
        "coverage_50",
        "coverage_80",
        "coverage_90",
        "calibration_error",
        "sharpness",
    )
    assert [m.header for m in COLUMNS][:4] == ["CRPS", "sample CRPS", "CRPS-sum", "MASE"]
    assert [m.key for m in COLUMNS if m.optional] == ["sample_CRPS", "m_sum_mean_wQuantileLoss"]
    assert [m.key for m in COLUMNS][-2:] == ["train_seconds", "sample_seconds_per_series"]
    assert [m.key for m in metrics_shown("trial")] == [
        "mean_wQuantileLoss",
        "sample_CRPS",
        "MASE",
        "coverage_50",
        "coverage_80",
        "coverage_90",
        "calibration_error",
        "sharpness",
    ]
    assert all(is_known_metric(k) for k in keys) and is_known_metric("wQuantileLoss[0.5]")
    assert not is_known_metric("accuracy") and default_direction("MASE") == "minimize"
    search = {"parameters": {"training.learning_rate": {"grid": [1e-3]}}}
    assert validate_search_config({**search, "study": {"metric": "nfe"}})["study"]["direction"] == "minimize"
    # a coverage is searched toward its nominal level: 0.45 and 0.55 are equally good, both better than 0.8
    assert validate_search_config({**search, "study": {"metric": "coverage_50"}})["study"]["direction"] == "minimize"
    assert objective_value("coverage_50", 0.45) == pytest.approx(objective_value("coverage_50", 0.55)) == 0.05
    assert objective_value("coverage_50", 0.8) == pytest.approx(0.3) and objective_value("MASE", 0.8) == 0.8
    assert default_direction("calibration_error") == default_direction("sharpness") == "minimize"
    with pytest.raises(SearchConfigError, match="not a reported metric; known: mean_wQuantileLoss, sample_CRPS"):
        validate_search_config({**search, "study": {"metric": "accuracy"}})


def test_result_table_format():
    result = ExperimentResult(name="m", dataset="d", metrics=dict.fromkeys(TABLE_METRICS, 0.5))
    result.baselines["seasonal_naive"] = {"MASE": 1.25}
    lines = result.table().splitlines()
    assert lines[0] == "| model | " + " | ".join(TABLE_METRICS) + " |" and lines[1] == "|" + "---|" * 12
    assert lines[2] == "| m | " + " | ".join(["0.5000"] * 11) + " |"
    assert lines[3].startswith("| seasonal_naive | nan | nan | 1.2500 |")


def test_baseline_experiment_scores_like_the_forecast_run(data_dir, tmp_path):
    config = tiny_config(experiment={"name": "naive", "type": "baseline", "params": {"baseline": "seasonal_naive"}})
    result = ExperimentRunner(config, dataset_path=data_dir, output_dir=tmp_path).run()
    assert result.experiment_type == "baseline" and result.nfe is None and result.num_parameters == 0
    assert result.num_series == 4 and result.num_samples == 8 and set(result.metrics) >= set(TABLE_METRICS)
    saved = json.loads(Path(result.metrics_path).read_text())
    assert saved["metrics"]["MASE"] == pytest.approx(result.metrics["MASE"])
    # the forecast run's baseline table goes through the same experiment: identical numbers
    forecast = tiny_config(evaluation={"num_samples": 8, "baselines": ["seasonal_naive"]})
    run = ExperimentRunner(forecast, dataset_path=data_dir, output_dir=tmp_path).run()
    assert run.baselines["seasonal_naive"] == pytest.approx(result.metrics, nan_ok=True)
    with pytest.raises(ValueError, match="known baselines: seasonal_naive, deepar"):
        BaselineExperiment(tiny_config(experiment={"type": "baseline", "params": {"baseline": "prophet"}}))


# --------------------------------------------------------------------------- known answers: calibration and sample CRPS
def period():
    return pd.Period("2020-01-01", "D")


def test_calibration_of_known_samples_is_hand_computed():
    # samples 0, 1, ..., 99 at every step: GluonTS's quantile q is the sample of rank round(99 q), i.e.
    # 5, 10, ..., 50 for q = 0.05, ..., 0.50, then 54, 59, ..., 94 for q = 0.55, ..., 0.95
    forecast = SampleForecast(np.tile(np.arange(100.0)[:, None], (1, 5)), start_date=period())
    truth = pd.Series([10.0, 30.0, 50.0, 80.0, np.nan])  # the missing value counts nowhere
    result = calibration([forecast], [truth])
    # 50%: [25, 74] holds 30 and 50; 80%: [10, 89] and 90%: [5, 94] hold all four (ends included)
    assert result["coverage_50"] == 0.5 and result["coverage_80"] == result["coverage_90"] == 1.0
    # share of the truth <= quantile q: 10 from q = 0.10, 30 from 0.30, 50 from 0.50, 80 from 0.85 (q_0.80 = 79)
    below = [0] + [0.25] * 4 + [0.5] * 4 + [0.75] * 7 + [1.0] * 3
    levels = [0.05 * i for i in range(1, 20)]
    assert result["calibration_error"] == pytest.approx(np.mean(np.abs(np.subtract(below, levels))))
    assert result["calibration_error"] == pytest.approx(1.95 / 19)
    # 80% interval width 89 - 10 over mean |truth| (10 + 30 + 50 + 80) / 4
    assert result["sharpness"] == pytest.approx(79 / 42.5)


def test_sample_crps_of_two_samples_is_hand_computed():
    # samples {9, 11}: CRPS = E|X - y| - E|X - X'| / 2 = 1 - 0.5 at y = 10, 2 - 0.5 at y = 12
    forecast = SampleForecast(np.array([[9.0, 9.0], [11.0, 11.0]]), start_date=period())
    assert sample_crps([forecast], [pd.Series([10.0, 12.0])]) == pytest.approx((0.5 + 1.5) / 22)


def gaussian_forecast(mean, std, horizon, n=2000):
    """A sample forecast whose samples are the ``n`` evenly spaced quantiles of N(mean, std^2) at every step."""
    from scipy.stats import norm

    samples = mean + std * norm.ppf((np.arange(n) + 0.5) / n)
    return SampleForecast(np.tile(samples[:, None], (1, horizon)), start_date=period())


def test_sample_crps_of_a_gaussian_matches_the_closed_form():
    from scipy.stats import norm

    truth = np.array([10.0, 10.5, 12.0, 7.0])
    z = (truth - 10.0) / 2.0  # N(10, 2^2): CRPS = s (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))
    exact = 2.0 * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    crps = sample_crps([gaussian_forecast(10.0, 2.0, len(truth))], [pd.Series(truth)])
    assert crps == pytest.approx(exact.sum() / truth.sum(), rel=1e-3)


@pytest.mark.parametrize("spread", [0.3, 1.0, 3.0])
def test_shrunk_and_widened_gaussian_forecasts_are_flagged(spread):
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    truth = [pd.Series(10.0 + rng.standard_normal(HORIZON)) for _ in range(500)]  # N(10, 1) data, 2000 values
    result = calibration([gaussian_forecast(10.0, spread, HORIZON, n=400)] * len(truth), truth)
    levels = np.arange(1, 20) * 0.05
    # the forecast's q-quantile is the data's Phi(spread * Phi^-1(q)) quantile
    expected_error = np.mean(np.abs(norm.cdf(spread * norm.ppf(levels)) - levels))
    assert result["calibration_error"] == pytest.approx(expected_error, abs=0.02)
    for c in (50, 80, 90):
        expected = 2 * norm.cdf(spread * norm.ppf(0.5 + c / 200)) - 1
        assert result[f"coverage_{c}"] == pytest.approx(expected, abs=0.035)
    assert result["sharpness"] == pytest.approx(spread * 2 * norm.ppf(0.9) / 10.0, rel=0.03)
    if spread == 1.0:  # the true width is calibrated
        assert result["calibration_error"] < 0.02
        assert all(abs(result[f"coverage_{c}"] - c / 100) < 0.035 for c in (50, 80, 90))
    else:  # too narrow or too wide: coverage far from nominal, calibration error large
        assert result["calibration_error"] > 0.12  # 0.157 (shrunk), 0.154 (widened); 0.008 at the true width
        assert all(abs(result[f"coverage_{c}"] - c / 100) > 0.09 for c in (50, 80, 90))


def test_calibration_reads_a_distribution_forecasts_exact_quantiles():
    import torch
    from gluonts.torch.model.forecast import DistributionForecast

    normal = torch.distributions.Normal(torch.full((2,), 10.0), torch.ones(2))
    forecast = DistributionForecast(normal, start_date=period())
    # 10.5 lies inside the 50% interval [9.33, 10.67]; 11.5 only inside the 90% one [8.36, 11.64]
    result = calibration([forecast], [pd.Series([10.5, 11.5])])
    assert (result["coverage_50"], result["coverage_80"], result["coverage_90"]) == (0.5, 0.5, 1.0)
    assert result["sharpness"] == pytest.approx(2 * 1.2815516 / 11.0, rel=1e-5)
