"""evaluation/bench_speed.py on a tiny slice of m4_hourly: its functions run and print the speed table."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
import bench_speed  # noqa: E402


def test_parse_variant():
    assert bench_speed.parse_variant("dpm:20") == ("dpm", {"num_steps": 20})
    assert bench_speed.parse_variant("euler") == ("euler", {})


def test_bench_speed_smoke(data_dir, tmp_path, capsys):
    output = tmp_path / "speed.json"
    rows = bench_speed.main(
        [
            *("--dataset-path", str(data_dir), "--num-series", "3", "--num-samples", "4"),
            *("--epochs", "1", "--num-batches-per-epoch", "1", "--batch-size", "8", "--baseline-epochs", "1"),
            *("--baselines", "seasonal_naive", "deepar", "--variants", "euler:2"),
            *("--distill-steps", "2", "1", "--distill-epochs-per-stage", "1", "--calibrate"),
            *("--threads", "1", "--output", str(output)),
        ]
    )
    printed = capsys.readouterr().out
    assert "| model | NFE | wall s | series/s | / DeepAR | CRPS |" in printed
    ours = ["transformer dpm", "transformer euler", "transformer distilled", "transformer distilled"]
    assert [r["model"] for r in rows] == [
        "deepar",
        "seasonal_naive",
        *(m for o in ours for m in (o, f"{o} + spread calibration")),
    ]
    assert [r["nfe"] for r in rows] == [48, None, 20, 20, 2, 2, 2, 2, 1, 1]
    assert rows[0]["ratio_to_deepar"] == 1.0
    assert all(r["seconds"] > 0 and r["ratio_to_deepar"] > 0 for r in rows)
    assert "| transformer euler | 2 |" in printed and "torch threads 1" in printed
    assert json.loads(output.read_text())["rows"] == rows
