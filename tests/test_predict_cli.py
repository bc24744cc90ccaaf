"""``python -m gluonts_diffusion.predict``: JSON lines in, one forecast line per good row out, bad rows named
by line number, the same forecasts as ``predictor.predict`` for the same seed."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from serving_data import BAD_ROWS, NUM_SERIES, saved_m4_model

from gluonts_diffusion.serving.entries import BadRow, entry_from_row, parse_row

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, data_dir):
    return saved_m4_model(tmp_path_factory.mktemp("predict"), data_dir)


def predict_command(*args, stdin=None):
    """Run the command in a subprocess importing this checkout; ``(exit code, stdout, stderr lines)``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "gluonts_diffusion.predict", *map(str, args)],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode().splitlines()


def test_forecasts_equal_predict_for_the_seed_and_bad_rows_are_named(saved, tmp_path):
    predictor, model, source, entries = saved
    output = tmp_path / "forecasts.json"
    code, _, stderr = predict_command(
        "--model",
        model,
        "--input",
        source,
        "--output",
        output,
        "--seed",
        7,
        "--num-samples",
        16,
        "--quantiles",
        0.1,
        0.5,
    )
    assert code == 0, stderr
    reasons = [f"{source}:{n}: {reason}" for n, (_, reason) in BAD_ROWS.items()]
    assert [line for line in stderr if line.startswith(str(source))] == [
        f"{reasons[0]} (could not convert string to float: 'x') (skipped)",
        f"{reasons[1]} as a time of frequency H (Unknown datetime string format, unable to parse: YESTERDAY-ISH)"
        " (skipped)",
    ]
    assert stderr[-1] == f"{NUM_SERIES} forecasts written, 2 bad rows skipped"
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == NUM_SERIES
    for row, entry, forecast in zip(rows, entries, predictor.predict(entries, num_samples=16, seed=7)):
        assert row["item_id"] == forecast.item_id == str(entry["item_id"]) and row["start"] == str(forecast.start_date)
        assert set(row) == {"item_id", "start", "mean", "quantiles"}
        np.testing.assert_array_equal(np.float32(row["mean"]), forecast.mean)
        np.testing.assert_array_equal(np.float32(row["quantiles"]["0.5"]), forecast.quantile(0.5))
        assert list(row["quantiles"]) == ["0.1", "0.5"]


def test_stdin_and_gzip_give_the_same_seeded_output_with_samples(saved, tmp_path):
    _, model, source, _ = saved
    packed = tmp_path / "input.json.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    common = ["--model", model, "--seed", 3, "--num-samples", 4, "--samples", "--batch-size", 2]
    code, from_stdin, _ = predict_command(*common, "--input", "-", stdin=source.read_bytes())
    code_gz, from_gzip, _ = predict_command(*common, "--input", packed)
    assert code == code_gz == 0
    assert from_stdin == from_gzip
    rows = [json.loads(line) for line in from_stdin.splitlines()]
    assert len(rows) == NUM_SERIES and np.shape(rows[0]["samples"]) == (4, 48)


def test_on_error_fail_stops_at_the_first_bad_row(saved):
    _, model, source, _ = saved
    code, stdout, stderr = predict_command("--model", model, "--input", source, "--on-error", "fail")
    assert code == 2
    assert stderr[-1] == f"error: {source}:3: non-numeric target values (could not convert string to float: 'x')"


@pytest.mark.parametrize(
    "line, reason",
    [
        ("[1, 2]", "not a JSON object but list"),
        ('{"start": "2020-01-01"', "not JSON (Expecting ',' delimiter: line 1 column 23 (char 22))"),
        ('{"start": "2020-01-01"}', "no target"),
        ('{"start": "2020-01-01", "target": []}', "empty target"),
        ('{"start": "2020-01-01", "target": 5}', "target is int, not a list of numbers"),
        (
            '{"start": "2020-01-01", "target": [1, null, "x"]}',
            "non-numeric target values (could not convert string to float: 'x')",
        ),
        (
            '{"start": "2020-01-01", "target": [[1, 2], [3, 4]]}',
            "target has shape (2, 2), the model needs a list of numbers",
        ),
        ('{"target": [1, 2]}', "no start"),
        ('{"start": null, "target": [1, 2]}', "start None is not a time"),
    ],
)
def test_bad_rows_are_refused_with_one_reason(line, reason):
    with pytest.raises(BadRow) as caught:
        entry_from_row(parse_row(line), "h")
    assert str(caught.value) == reason


def test_a_multivariate_row_needs_target_dim_lists():
    row = parse_row('{"start": "2020-01-01", "target": [1, 2, 3]}')
    with pytest.raises(BadRow, match=r"^target has shape \(3,\), the model needs 2 lists of numbers$"):
        entry_from_row(row, "D", target_dim=2)
    entry = entry_from_row(parse_row('{"start": "2020-01-01", "target": [[1, "NaN"], [3, 4]]}'), "D", target_dim=2)
    assert entry["target"].shape == (2, 2) and np.isnan(entry["target"][0, 1])
