"""``gluonts_diffusion.impute`` and ``python -m gluonts_diffusion.impute``: windows cover every missing value once,
observed values come back unchanged in every path (univariate and multivariate), a reloaded predictor imputes
identically for a seed, the CLI round trip, and the refusals. Untrained tiny models: this tests the plumbing;
the quality of the imputations is the benchmark's (``evaluation/bench_imputation.py``)."""

import importlib
import json

import numpy as np
import pytest
from tiny import quiet_trainer, synthetic, tiny_estimator

import gluonts_diffusion
from gluonts_diffusion.model.export import ExportError, export_model
from gluonts_diffusion.model.imputation import window_starts
from gluonts_diffusion.model.predictor import load_predictor

impute_cli = importlib.import_module(
    "gluonts_diffusion.impute"
)  # the command's module (the package attribute may be the function)
LENGTH = 8  # prediction_length of the tiny models: the imputation window


def untrained_predictor(tmp_path, **kwargs):
    """The predictor of a tiny untrained estimator (no training needed to test the plumbing)."""
    estimator = tiny_estimator(quiet_trainer(tmp_path), freq="D", prediction_length=LENGTH, **kwargs)
    return estimator.create_predictor(estimator.create_transformation(), estimator.create_lightning_module())


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return untrained_predictor(tmp_path_factory.mktemp("impute"), imputation=True)


def gappy_series():
    """Series with random gaps, a long block, one shorter than a window, one without gaps."""
    data = synthetic(4, [60, 5, 40, 30], nan_fraction=0.2, seed=3)
    data[0]["target"][20:41] = np.nan
    data[3]["target"] = np.nan_to_num(data[3]["target"], nan=10.0)
    return data


@pytest.mark.parametrize("steps, fraction", [(60, 0.1), (60, 0.5), (5, 0.5), (23, 0.9), (100, 0.02)])
def test_windows_cover_every_missing_step_exactly_once(steps, fraction):
    missing = np.random.default_rng(steps).random(steps) < fraction
    owned = np.zeros(steps, dtype=int)
    end = 0
    for start in window_starts(missing, LENGTH):
        assert 0 <= start and (start + LENGTH <= steps or start == 0)
        owned[max(start, end) : start + LENGTH] += 1  # a window owns the steps from the previous one's end on
        end = start + LENGTH
    assert (owned[missing] == 1).all()


def test_observed_values_come_back_in_every_path_and_each_window_is_sampled_once(predictor, monkeypatch):
    net = predictor.prediction_net
    rows = []
    forward = net.forward
    monkeypatch.setattr(net, "forward", lambda **kw: rows.append(len(kw["past_target"])) or forward(**kw))
    data = gappy_series()
    imputations = gluonts_diffusion.impute(predictor, data, num_samples=5, seed=0)
    assert sum(rows) == sum(len(window_starts(np.isnan(entry["target"]), LENGTH)) for entry in data)
    for imputation, entry in zip(imputations, data):
        target = entry["target"]
        missing = np.isnan(target)
        assert imputation.samples.shape == (5, len(target))
        assert imputation.start_date == entry["start"] and imputation.item_id == entry["item_id"]
        assert (imputation.missing == missing).all()
        np.testing.assert_array_equal(
            imputation.samples[:, ~missing], np.broadcast_to(target[~missing], (5, (~missing).sum()))
        )
        assert np.isfinite(imputation.samples).all()
        assert imputation.missing_samples.shape == (5, missing.sum())
        np.testing.assert_array_equal(imputation.quantile(0.5)[~missing], target[~missing])
    assert imputations[3].missing_samples.size == 0  # no missing values: the observed series, no window


def test_multivariate_entries(tmp_path):
    predictor = untrained_predictor(tmp_path, imputation=True, target_dim=3)
    target = np.stack([entry["target"] for entry in synthetic(3, 40, seed=1)])
    target[0, 5:9] = np.nan
    target[2, 30] = np.inf
    (imputation,) = gluonts_diffusion.impute(predictor, [{"start": "2021-01-01", "target": target}], num_samples=4)
    missing = ~np.isfinite(target.T)
    assert imputation.samples.shape == (4, 40, 3)
    assert (imputation.missing == missing).all() and imputation.missing_samples.shape == (4, 5)
    np.testing.assert_array_equal(imputation.samples[:, ~missing], np.broadcast_to(target.T[~missing], (4, 115)))
    assert np.isfinite(imputation.samples).all()


def test_a_reloaded_predictor_imputes_identically_for_a_seed(predictor, tmp_path):
    predictor.serialize(tmp_path / "model")
    reloaded = load_predictor(tmp_path / "model")
    data = gappy_series()
    first = gluonts_diffusion.impute(predictor, data, num_samples=3, seed=7)
    again = gluonts_diffusion.impute(reloaded, data, num_samples=3, seed=7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.samples, b.samples)
    other = gluonts_diffusion.impute(reloaded, data, num_samples=3, seed=8)
    assert not np.array_equal(first[0].samples, other[0].samples)


def impute_command(capsys, *args):
    """``python -m gluonts_diffusion.impute ARGS`` in this process: ``(exit status, stderr lines)``."""
    code = impute_cli.main([str(arg) for arg in args])
    return code, capsys.readouterr().err.splitlines()


def test_cli_round_trip(predictor, tmp_path, capsys):
    predictor.serialize(tmp_path / "model")
    rows = [{"start": "2021-01-01", "target": [1.0, None, 3.0, 4.0, "NaN", 6.0, 7.0, 8.0, 9.0], "item_id": "a"}]
    rows.append({"start": "2021-02-01", "target": [5.0, 6.0]})
    (tmp_path / "in.json").write_text("\n".join(map(json.dumps, rows)) + "\n")
    code, stderr = impute_command(
        capsys,
        "--model", tmp_path / "model", "--input", tmp_path / "in.json", "--output", tmp_path / "out.json",
        "--num-samples", 4, "--seed", 1, "--quantiles", "0.1,0.5", "0.9",
    )  # fmt: skip
    assert code == 0, stderr
    lines = [json.loads(line) for line in (tmp_path / "out.json").read_text().splitlines()]
    assert [line["item_id"] for line in lines] == ["a", None] and lines[0]["start"] == "2021-01-01"
    assert lines[0]["imputed"] == [1, 4] and lines[1]["imputed"] == []
    assert sorted(lines[0]["quantiles"]) == ["0.1", "0.5", "0.9"]  # space- and comma-separated alike
    observed = [0, 2, 3, 5, 6, 7, 8]
    np.testing.assert_allclose(np.asarray(lines[0]["mean"])[observed], [rows[0]["target"][i] for i in observed])
    assert lines[1]["mean"] == [5.0, 6.0]


def test_cli_refuses_a_bad_row_with_its_line(predictor, tmp_path, capsys):
    predictor.serialize(tmp_path / "model")
    (tmp_path / "in.json").write_text('{"start": "2021-01-01", "target": [1.0]}\n{"target": [1.0]}\n')
    code, stderr = impute_command(
        capsys, "--model", tmp_path / "model", "--input", tmp_path / "in.json", "--output", "x"
    )
    assert code == 1
    assert stderr[-1] == f"impute failed: {tmp_path / 'in.json'} line 2: no start"


def test_refusals(tmp_path, predictor):
    forecaster = untrained_predictor(tmp_path)
    with pytest.raises(ValueError) as err:
        gluonts_diffusion.impute(forecaster, gappy_series())
    assert str(err.value) == (
        "this predictor was not trained for imputation: train it with imputation: true "
        "(model: {imputation: true} in the config, or DiffusionEstimator(..., imputation=True))"
    )
    with pytest.raises(ValueError, match=r"^num_samples must be an integer >= 1, got 0$"):
        gluonts_diffusion.impute(predictor, gappy_series(), num_samples=0)
    with pytest.raises(ExportError) as err:
        export_model(predictor, tmp_path / "onnx")
    assert str(err.value).startswith("export_model: an imputation model interpolates its known values with")
