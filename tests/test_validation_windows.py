"""Validation windows: held out with GluonTS's splitter, never trained on, passed to Lightning (val_loss chooses
the checkpoint and drives the LR schedule), scored as the ``val_`` metrics; ``search`` and ``compare``'s
selection read them and never the test split (a dataset whose test windows are poisoned chooses the same)."""

import gzip
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import quiet_trainer, synthetic, tiny_config, tiny_estimator

from gluonts_diffusion.data.validation import validation_split
from gluonts_diffusion.experiments import leaderboard
from gluonts_diffusion.experiments.config import ConfigError, validate_config
from gluonts_diffusion.experiments.runner import ExperimentRunner
from gluonts_diffusion.experiments.search import run_search, validate_search_config
from gluonts_diffusion.model.estimator import DiffusionEstimator

PL = 6  # prediction length of the synthetic tests


def test_held_out_windows_are_the_last_steps_of_each_series():
    data = synthetic(3, [40, 16, 11], freq="D")  # 11 steps cannot spare a window of 6 and keep 7 to train on
    split = validation_split(data, PL, windows=2)
    first, second, short = split.train
    np.testing.assert_array_equal(first["target"], data[0]["target"][:-12])
    np.testing.assert_array_equal(second["target"], data[1]["target"][:-6])  # 16 steps spare one window of 2
    np.testing.assert_array_equal(short["target"], data[2]["target"])  # kept whole
    assert first["start"] == data[0]["start"] and split.kept_whole == ["2"] and split.origin == [0, 0, 1]
    ends = [len(entry["target"]) for entry in split.validation]
    assert ends == [34, 40, 16]  # each entry ends where its window ends, oldest window first
    for entry, index in zip(split.validation, split.origin):
        np.testing.assert_array_equal(entry["target"], data[index]["target"][: len(entry["target"])])
    assert split.summary() == {
        "windows_per_series": 2,
        "prediction_length": PL,
        "validation_windows": 3,
        "series_held_out": 2,
        "series_kept_whole": 1,
    }


def test_no_series_long_enough_trains_without_validation(caplog):
    from gluonts_diffusion.data.datasets import ForecastData
    from gluonts_diffusion.experiments.validation import holdout

    data = ForecastData("short", synthetic(2, 10), [], "D", PL)
    assert holdout(tiny_config(training={"validation": True}), data) is None
    assert "no training series of short can give up a window of 6 steps" in caplog.text


def test_multivariate_series_split_along_time():
    data = [{"start": synthetic(1, 30)[0]["start"], "target": np.arange(60.0).reshape(2, 30)}]
    split = validation_split(data, PL)
    np.testing.assert_array_equal(split.train[0]["target"], data[0]["target"][:, :-PL])
    np.testing.assert_array_equal(split.validation[0]["target"], data[0]["target"])


def test_training_batches_never_see_the_validation_windows(tmp_path):
    """Series whose last window holds values >= 1000 (nowhere else): no training batch contains one, the
    validation batches' futures are exactly those windows."""
    data = synthetic(4, 60, freq="D")
    for entry in data:
        entry["target"][-PL:] = 1000 + np.arange(PL)
    split = validation_split(data, PL)
    estimator = tiny_estimator(quiet_trainer(tmp_path), freq="D", prediction_length=PL, num_batches_per_epoch=20)
    module = estimator.create_lightning_module()
    transform = estimator.create_transformation()
    loader = estimator.create_training_data_loader(transform.apply(split.train, is_train=True), module)
    batches = list(loader)
    assert len(batches) == 20
    for batch in batches:
        assert batch["past_target"].max() < 1000 and batch["future_target"].max() < 1000
    validation = list(estimator.create_validation_data_loader(transform.apply(split.validation, is_train=True), module))
    futures = torch.cat([batch["future_target"] for batch in validation])
    assert futures.shape == (4, PL) and torch.equal(futures, (1000 + torch.arange(PL)).expand(4, PL).float())


def test_validation_config_values():
    assert validate_config(tiny_config(training={"validation": 2}))["training"]["validation"] == 2
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_config(training={"validation": 0}))
    assert str(err.value) == "training.validation must be true, false or a number of windows >= 1, got 0"
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_config(evaluation={"test": False}))
    assert str(err.value) == "evaluation.test: false leaves nothing to score without training.validation; set both"
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_config(evaluation={"test": "no"}))
    assert str(err.value) == "evaluation.test must be true or false, got 'no'"


def test_run_trains_without_the_windows_and_lightning_monitors_val_loss(data_dir, tmp_path, monkeypatch):
    seen = {}
    train_model = DiffusionEstimator.train_model

    def spy(self, training_data, validation_data=None, **kwargs):
        seen.update(training=list(training_data), validation=list(validation_data or []))
        seen["output"] = train_model(self, training_data, validation_data=validation_data, **kwargs)
        return seen["output"]

    monkeypatch.setattr(DiffusionEstimator, "train_model", spy)
    config = tiny_config()
    config["training"]["validation"] = True
    config["evaluation"]["baselines"] = []
    result = ExperimentRunner(config, dataset_path=data_dir, output_dir=tmp_path).run()
    runner_data = ExperimentRunner(config, dataset_path=data_dir).load_data()
    for full, trained, held in zip(runner_data.train, seen["training"], seen["validation"]):
        np.testing.assert_array_equal(trained["target"], full["target"][:-48])
        np.testing.assert_array_equal(held["target"], full["target"])
    trainer = seen["output"].trainer
    assert "val_loss" in trainer.callback_metrics and trainer.checkpoint_callback.monitor == "val_loss"
    assert trainer.lr_scheduler_configs[0].monitor == "val_loss"
    for key in ("val_mean_wQuantileLoss", "val_coverage_90", "val_calibration_error", "mean_wQuantileLoss"):
        assert math.isfinite(result.metrics[key]), key
    saved = json.loads((Path(result.run_dir) / "metrics.json").read_text())
    assert saved["splits"]["checkpoint"] == "validation windows (val_loss)"
    assert saved["splits"]["metrics"] == "test split"
    assert saved["splits"]["validation"]["series_held_out"] == 4
    assert saved["splits"]["checkpoint_epoch"] == 0 and saved["splits"]["epochs_trained"] == 1  # the kept checkpoint
    assert "| tiny (validation windows) |" in result.table()


# ------------------------------------------------------------------ the poison test
def copy_series(data_dir, target, count=4, poison=None):
    """The first ``count`` m4_hourly series (train and test) in GluonTS's layout under ``target``; ``poison``
    (48 values) replaces every test window (the last 48 steps of each test entry)."""
    folder = target / "m4_hourly"
    for part in ("train", "test"):
        (folder / part).mkdir(parents=True)
        with gzip.open(data_dir / "m4_hourly" / part / "data.json.gz", "rt") as handle:
            lines = [json.loads(line) for _, line in zip(range(count), handle)]
        for entry in lines:
            if poison and part == "test":
                entry["target"][-48:] = poison
        (folder / part / "data.json").write_text("".join(json.dumps(e) + "\n" for e in lines))
    shutil.copy(data_dir / "m4_hourly" / "metadata.json", folder / "metadata.json")
    return target


SEARCH = {
    "study": {"name": "poison", "metric": "mean_wQuantileLoss", "seed": 0},
    "parameters": {"components.sampler.params.num_steps": {"grid": [2, 3]}},
}


def search_outcome(dataset_path, out):
    result = run_search(tiny_config(), SEARCH, dataset_path=dataset_path, output_dir=out)
    import optuna

    study = optuna.load_study(study_name="poison", storage=result.storage)
    return {t.number: t.value for t in study.get_trials()}, result.best_params, result.best_value


def test_search_and_compare_never_read_the_test_split(data_dir, tmp_path):
    clean = copy_series(data_dir, tmp_path / "clean")
    poisoned = copy_series(data_dir, tmp_path / "poisoned", poison=["NaN", 1e30] * 24)
    # no test score at all: a selection reading the test split would find no candidate
    unscorable = copy_series(data_dir, tmp_path / "unscorable", poison=["NaN"] * 48)
    assert validate_search_config(SEARCH)["study"]["metric"] == "val_mean_wQuantileLoss"
    first = search_outcome(clean, tmp_path / "search_clean")
    assert len(first[0]) == 2 and all(math.isfinite(v) for v in first[0].values())
    assert search_outcome(poisoned, tmp_path / "search_poisoned") == first

    configs = [tiny_config(), tiny_config()]
    configs[1]["experiment"]["name"] = "tiny3"
    configs[1]["components"]["architecture"]["params"]["model_dim"] = 8
    boards = [
        leaderboard.compare(
            configs, baselines=[], dataset_path=path, output_dir=tmp_path / name, select_on="validation", progress=False
        )
        for name, path in (("clean", clean), ("poisoned", poisoned), ("unscorable", unscorable))
    ]
    selections = [json.loads(Path(b.paths["json"]).read_text())["selection"] for b in boards]
    assert selections[0] == selections[1] == selections[2]
    assert selections[0]["selected"]["m4_hourly"] in ("tiny", "tiny3")
    val = [{r["model"]: r.get("val_mean_wQuantileLoss") for r in b.rows} for b in boards]
    assert val[0] == val[1] == val[2]
    test = [{r["model"]: r["mean_wQuantileLoss"] for r in b.rows} for b in boards]
    assert test[0] != test[1] and set(test[2].values()) == {None}  # the poison did reach the test columns
    assert "(selected)" in (tmp_path / "clean" / "leaderboard.md").read_text()
