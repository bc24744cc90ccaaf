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
    default_direction,
    is_known_metric,
    metrics_shown,
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
    assert metrics["coverage_50"] == metrics["coverage_90"] == (1.0 if shift == 0 else 0.0)
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
        "coverage_90",
    )
    assert [m.header for m in COLUMNS][:3] == ["CRPS", "sample CRPS", "MASE"]
    assert [m.key for m in COLUMNS][-2:] == ["train_seconds", "sample_seconds_per_series"]
    assert [m.key for m in metrics_shown("trial")] == [
        "mean_wQuantileLoss",
        "sample_CRPS",
        "MASE",
        "coverage_50",
        "coverage_90",
    ]
    assert all(is_known_metric(k) for k in keys) and is_known_metric("wQuantileLoss[0.5]")
    assert not is_known_metric("accuracy") and default_direction("MASE") == "minimize"
    search = {"parameters": {"training.learning_rate": {"grid": [1e-3]}}}
    assert validate_search_config({**search, "study": {"metric": "nfe"}})["study"]["direction"] == "minimize"
    with pytest.raises(SearchConfigError, match="not a reported metric; known: mean_wQuantileLoss, sample_CRPS"):
        validate_search_config({**search, "study": {"metric": "accuracy"}})


def test_result_table_format():
    result = ExperimentResult(name="m", dataset="d", metrics=dict.fromkeys(TABLE_METRICS, 0.5))
    result.baselines["seasonal_naive"] = {"MASE": 1.25}
    lines = result.table().splitlines()
    assert lines[0] == "| model | " + " | ".join(TABLE_METRICS) + " |" and lines[1] == "|" + "---|" * 9
    assert lines[2] == "| m | " + " | ".join(["0.5000"] * 8) + " |"
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
