"""Smoke test of evaluation/bench_defaults.py on a tiny slice (a benchmark script, not a benchmark)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
import bench_defaults  # noqa: E402


@pytest.mark.parametrize("split, windows", [("test", 1), ("validation", 1), ("validation", 2)])
def test_bench_defaults_smoke(tmp_path, capsys, split, windows):
    out = tmp_path / "rows.json"
    argv = ["--datasets", "synthetic_intermittent", "--max-series", "3", "--epochs", "1"]
    argv += ["--num-batches-per-epoch", "1", "--num-samples", "4", "--clip-x0", "1", "--scaling", "mean"]
    rows = bench_defaults.main(
        [*argv, "--select-on", split, "--validation-windows", str(windows), "--output", str(out)]
    )
    (row,) = json.loads(out.read_text())
    assert row == json.loads(json.dumps(rows[0]))
    assert (
        row["split"] == split and row["series"] == 3 * windows and row["crps"] > 0 and row["seasonal_naive"]["crps"] > 0
    )
    assert row["options"] == {"preprocessing_kwargs": {"scaling": "mean"}, "clip_x0": 1.0, "num_batches_per_epoch": 1}
    assert 0 <= row["median_outside"] <= 1 and 0 <= row["coverage_90"] <= 1
    assert "windows" not in row
    assert "| synthetic_intermittent | " + split in capsys.readouterr().out


def test_median_outside_counts_forecasts_leaving_the_history_range():
    class Median:
        def __init__(self, values):
            self.values = values

        def quantile(self, q):
            return self.values

    entries = [{"target": np.array([0.0, 10.0, 5.0, 1.0])}] * 3  # history [0, 10, 5]: allowed [-10, 20]
    forecasts = [Median(np.array([19.0])), Median(np.array([21.0])), Median(np.array([-10.5]))]
    assert bench_defaults.median_outside(forecasts, entries, 1) == pytest.approx(2 / 3)


def test_window_scores_are_hand_computed():
    import pandas as pd
    from gluonts.model.forecast import SampleForecast

    index = pd.period_range("2020-01-01", periods=3, freq="D")
    truth = pd.Series([2.0, 2.0, 2.0], index=index)
    below = SampleForecast(np.ones((8, 3)), start_date=index[0])  # a point forecast 1 under a truth of 2
    around = SampleForecast(np.tile(np.linspace(1.0, 3.0, 101)[:, None], (1, 3)), start_date=index[0])
    first, second = bench_defaults.window_scores([below, around], [truth, truth])
    # quantile loss 2 q |e| summed over steps, over sum |y| = 6: q on average over q = 0.1, ..., 0.9, i.e. 0.5
    assert first == {"crps": pytest.approx(0.5), "coverage_50": 0.0, "coverage_90": 0.0}
    assert second["coverage_50"] == second["coverage_90"] == 1.0 and 0 < second["crps"] < 0.5


def test_per_window_rows_add_each_window(tmp_path):
    argv = ["--datasets", "synthetic_intermittent", "--max-series", "2", "--epochs", "1", "--per-window"]
    (row,) = bench_defaults.main([*argv, "--num-batches-per-epoch", "1", "--num-samples", "4"])
    for scores in (row, row["seasonal_naive"]):
        assert len(scores["windows"]) == 2 and all(window["crps"] >= 0 for window in scores["windows"])
