"""Leaderboard comparison at a tiny budget: baselines beside configs on one split, a config failing
mid-run, per-run records, resume without redoing finished runs, and the CLI."""

import copy
import csv
import json

import pytest
import yaml
from tiny import tiny_config

from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.experiments import leaderboard
from gluonts_diffusion.experiments.forecast import ForecastExperiment
from gluonts_diffusion.experiments.leaderboard import run as leaderboard_run

TINY = tiny_config()


@Registry.register("experiment", "test_fails_mid_run")
class FailsMidRun(ForecastExperiment):
    """Sets up like ``forecast`` (run folder, data, estimator), then training raises."""

    def train(self):
        raise RuntimeError("training diverged (on purpose)")


@pytest.fixture
def configs(tmp_path):
    good = tmp_path / "tiny.yaml"
    good.write_text(yaml.safe_dump(TINY))
    failing = copy.deepcopy(TINY)
    failing["experiment"] = {"name": "broken", "type": "test_fails_mid_run"}
    failing["data"]["max_series"] = 99  # replaced by the shared split of the first config
    bad = tmp_path / "broken.yaml"
    bad.write_text(yaml.safe_dump(failing))
    return [good, bad]


def test_compare_leaderboard_failures_and_resume(configs, data_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "board"
    counts = {"config": 0, "baseline": 0}
    run_experiment = leaderboard_run.run_experiment

    def counting(spec, *args):
        counts[spec.kind] += 1
        return run_experiment(spec, *args)

    monkeypatch.setattr(leaderboard_run, "run_experiment", counting)

    board = leaderboard.compare(
        configs,
        baselines=["seasonal_naive", "simple_feedforward"],
        seeds=[0, 1],
        dataset_path=data_dir,
        output_dir=out,
        progress=False,
    )
    assert counts == {"config": 4, "baseline": 4}
    runs = sorted(p.name for p in (out / "runs").glob("*.json"))
    assert len(runs) == 8 and "tiny__m4_hourly__seed1.json" in runs
    # the failing config is recorded with its error; everything else is kept
    broken = json.loads((out / "runs" / "broken__m4_hourly__seed0.json").read_text())
    assert (
        broken["status"] == "failed" and "training diverged" in broken["error"] and "Traceback" in broken["traceback"]
    )
    assert broken["config"]["data"]["max_series"] == 4  # identical split
    assert {r["run_id"] for r in board.failed} == {"broken__m4_hourly__seed0", "broken__m4_hourly__seed1"}

    rows = {row["model"]: row for row in board.rows}
    assert set(rows) == {"tiny", "broken", "seasonal_naive", "simple_feedforward"}
    for name in ("tiny", "seasonal_naive", "simple_feedforward"):
        row = rows[name]
        assert row["ok"] == 2 and row["rank"] is not None and row["mean_wQuantileLoss"] > 0
        assert row["mean_wQuantileLoss_std"] is not None and row["sample_CRPS"] > 0 and row["coverage_90"] is not None
        # calibration columns for diffusion models and baselines alike
        assert 0 <= row["coverage_50"] <= row["coverage_80"] <= row["coverage_90"] <= 1
        assert 0 <= row["calibration_error"] <= 0.95 and row["sharpness"] >= 0 and row["sharpness_std"] is not None
        assert row["train_seconds"] is not None and row["sample_seconds_per_series"] > 0
    assert rows["seasonal_naive"]["sharpness"] == 0 < rows["tiny"]["sharpness"]  # a point forecast has no width
    assert rows["broken"]["ok"] == 0 and rows["broken"]["rank"] is None
    assert rows["tiny"]["nfe"] == 3 and rows["simple_feedforward"]["nfe"] == 1 and rows["seasonal_naive"]["nfe"] is None
    assert rows["tiny"]["num_parameters"] > 0 and rows["simple_feedforward"]["num_parameters"] > 0
    ranked = sorted((r for r in board.rows if r["rank"]), key=lambda r: r["rank"])
    assert [r["mean_wQuantileLoss"] for r in ranked] == sorted(r["mean_wQuantileLoss"] for r in ranked)

    markdown = (out / "leaderboard.md").read_text()
    assert "| 1 |" in markdown and "seasonal_naive" in markdown and "±" in markdown and "Failed runs" in markdown
    assert "| cov 50% | cov 80% | cov 90% | calib err | sharpness |" in markdown
    with open(out / "leaderboard.csv") as handle:
        table = list(csv.DictReader(handle))
    assert {r["model"] for r in table} == set(rows) and "mean_wQuantileLoss_std" in table[0]
    assert {"coverage_80", "calibration_error", "sharpness_std"} <= set(table[0])
    saved = json.loads((out / "leaderboard.json").read_text())
    assert saved["rank_metric"] == "mean_wQuantileLoss" and len(saved["failed"]) == 2
    assert all(row["calibration_error"] is not None for row in saved["rows"] if row["ok"])
    assert saved["splits"]["m4_hourly"]["data"]["max_series"] == 4
    assert (out / "crps.png").stat().st_size > 0
    plots = {p.name for p in (out / "plots").glob("*.png")}
    assert {"tiny__m4_hourly.png", "seasonal_naive__m4_hourly.png", "simple_feedforward__m4_hourly.png"} <= plots

    # resume through the CLI: finished runs are skipped (files untouched), the failed ones are retried
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    from gluonts_diffusion.compare import main

    code = main(
        [
            "--configs",
            *map(str, configs),
            "--baselines",
            "seasonal_naive",
            "simple_feedforward",
            "--seeds",
            "0",
            "1",
            "--dataset-path",
            str(data_dir),
            "--output",
            str(out),
            "--resume",
        ]
    )
    assert code == 1  # some runs failed
    assert counts == {"config": 6, "baseline": 4}
    for name, mtime in mtimes.items():
        changed = (out / "runs" / name).stat().st_mtime_ns != mtime
        assert changed == name.startswith("broken"), name
    assert "| 1 |" in capsys.readouterr().out


def test_plan_shares_the_split_and_rejects_unknown_baselines(configs):
    specs, splits = leaderboard.plan_runs(
        configs, baselines=["seasonal_naive"], seeds=[0, 1], datasets=["m4_hourly", "m4_weekly"]
    )
    assert len(specs) == 2 * 2 * 3
    weekly = [s for s in specs if s.dataset == "m4_weekly"]
    assert all("prediction_length" not in s.config["data"] for s in weekly)  # the dataset's own horizon
    assert {s.config["experiment"]["seed"] for s in specs if s.kind == "config"} == {0, 1}
    assert all(s.config["evaluation"]["baselines"] == [] for s in specs if s.kind == "config")
    assert {(s.model, s.source) for s in specs if s.kind == "config"} == {
        ("tiny", str(configs[0])),
        ("broken", str(configs[1])),
    }
    naive = [s.config["experiment"] for s in specs if s.kind == "baseline"]
    assert all(e["type"] == "baseline" and e["params"] == {"baseline": "seasonal_naive"} for e in naive)
    with pytest.raises(ValueError, match="known baselines: seasonal_naive"):
        leaderboard.plan_runs(configs, baselines=["prophet"])


def test_select_on_flag():
    from gluonts_diffusion.compare import build_parser

    assert build_parser().parse_args(["--configs", "a.yaml", "--select-on", "validation"]).select_on == "validation"
    assert build_parser().parse_args(["--configs", "a.yaml"]).select_on is None
    with pytest.raises(ValueError, match="select_on must be 'validation' or None, got 'test'"):
        leaderboard.compare(["a.yaml"], select_on="test")
