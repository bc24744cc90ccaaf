"""GluonTS's multivariate baseline (torch iTransformer) beside our model on one multivariate target: it trains on
a 3-dimensional slice of exchange_rate_nips (1 epoch x 2 batches), forecasts (num_samples, H, dim) paths, is
scored by ``score()`` with CRPS-sum, runs in ``compare``; baselines refuse data of the other kind by name."""

import numpy as np
import pytest
from tiny import quiet_trainer, tiny_config

from gluonts_diffusion.data.datasets import ForecastData, load_dataset
from gluonts_diffusion.experiments import leaderboard
from gluonts_diffusion.experiments.baselines import BASELINE_TARGETS, BASELINES, baselines_for, train_baseline
from gluonts_diffusion.experiments.scoring import score

DIM = 3


@pytest.fixture(scope="module")
def exchange_rate_3d(data_dir):
    """exchange_rate_nips, its first 3 series grouped into one (3, T) target, training on the last 200 steps."""
    data = load_dataset("exchange_rate_nips", data_dir, multivariate=True, max_series=DIM)
    data.train = [
        {**entry, "target": entry["target"][:, -200:], "start": entry["start"] + (entry["target"].shape[1] - 200)}
        for entry in data.train
    ]
    return data


def test_every_baseline_declares_the_one_kind_of_target_it_takes():
    assert tuple(BASELINE_TARGETS) == BASELINES
    assert baselines_for("multivariate") == ("i_transformer",)
    assert baselines_for("univariate") == ("seasonal_naive", "deepar", "simple_feedforward", "patch_tst")


def test_i_transformer_trains_forecasts_dim_paths_and_scores_crps_sum(exchange_rate_3d, tmp_path):
    data = exchange_rate_3d
    assert data.target_dim == DIM and data.train[0]["target"].shape == (DIM, 200)
    predictor = train_baseline(
        "i_transformer", data, trainer_kwargs=quiet_trainer(tmp_path), batch_size=8, num_batches_per_epoch=2
    )
    forecast = next(iter(predictor.predict(data.test[:1], num_samples=7)))
    assert forecast.samples.shape == (7, data.prediction_length, DIM)
    assert np.isfinite(forecast.samples).all()

    metrics, forecasts, _, _ = score(predictor, data.test, num_samples=10, seed=0, target_dim=DIM)
    assert len(forecasts) == len(data.test) == 5
    # MultivariateEvaluator: CRPS-sum over the summed target, per-dimension CRPS, no univariate sample CRPS
    assert metrics["m_sum_mean_wQuantileLoss"] > 0 and metrics["mean_wQuantileLoss"] > 0
    assert "sample_CRPS" not in metrics and 0 <= metrics["coverage_90"] <= 1


@pytest.mark.parametrize("name", baselines_for("univariate"))
def test_univariate_baselines_refuse_multivariate_data_naming_the_multivariate_ones(name):
    data = ForecastData("exchange_rate_nips", [], [], "B", 30, target_dim=8)
    with pytest.raises(ValueError) as err:
        train_baseline(name, data)
    assert str(err.value) == (
        f"baseline {name!r} is univariate; data 'exchange_rate_nips' is multivariate "
        "(multivariate baselines: i_transformer)"
    )


def test_i_transformer_refuses_univariate_data_naming_the_univariate_ones():
    data = ForecastData("m4_hourly", [], [], "H", 48)
    with pytest.raises(ValueError) as err:
        train_baseline("i_transformer", data)
    assert str(err.value) == (
        "baseline 'i_transformer' is multivariate; data 'm4_hourly' is univariate "
        "(univariate baselines: seasonal_naive, deepar, simple_feedforward, patch_tst)"
    )


def test_compare_scores_i_transformer_beside_our_multivariate_model(data_dir, tmp_path):
    config = tiny_config(data={"dataset": "exchange_rate_nips", "multivariate": True, "max_series": DIM})
    config["experiment"]["name"] = "tiny_mv"
    board = leaderboard.compare(
        [config], baselines=["i_transformer"], seeds=[0], dataset_path=data_dir, output_dir=tmp_path, progress=False
    )
    assert not board.failed
    rows = {row["model"]: row for row in board.rows}
    assert set(rows) == {"tiny_mv", "i_transformer"}
    assert all(row["ok"] == 1 and row["mean_wQuantileLoss"] > 0 for row in rows.values())
    records = {r["model"]: r for r in board.records}
    assert records["i_transformer"]["kind"] == "baseline" and records["i_transformer"]["nfe"] == 1
    for record in records.values():  # one scoring path: CRPS-sum for our model and the baseline alike
        assert record["metrics"]["m_sum_mean_wQuantileLoss"] > 0
    assert all(row["m_sum_mean_wQuantileLoss"] > 0 for row in rows.values())
    table = (tmp_path / "leaderboard.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| rank"))
    assert "| CRPS-sum |" in header and "sample CRPS" not in header
