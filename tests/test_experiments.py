"""ExperimentRunner / BaseExperiment / the experiment registry, logging (TensorBoard, W&B offline) and the
registry CLI, at tiny budgets (1 epoch of 2 batches, model_dim 16, 3 sampler steps, 4 series)."""

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from gluonts.model.predictor import Predictor
from tiny import tiny_config

from gluonts_diffusion.core.registry import Registry, RegistryError
from gluonts_diffusion.experiments import BaseExperiment, ExperimentResult
from gluonts_diffusion.experiments.config import ConfigError, validate_config
from gluonts_diffusion.experiments.forecast import ForecastExperiment
from gluonts_diffusion.experiments.runner import ExperimentRunner

TINY = tiny_config(evaluation={"num_samples": 8, "baselines": ["seasonal_naive"]})
del TINY["logging"]  # these tests check the default logging


def tiny(**sections):
    config = copy.deepcopy(TINY)
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def test_runner_trains_evaluates_and_logs_to_tensorboard(data_dir, tmp_path):
    result = ExperimentRunner(tiny(), dataset_path=data_dir, output_dir=tmp_path).run()
    assert isinstance(result, ExperimentResult) and result.experiment_type == "forecast"
    assert result.dataset == "m4_hourly" and result.num_series == 4 and result.num_samples == 8
    for key in ("mean_wQuantileLoss", "sample_CRPS", "MASE", "sMAPE", "ND", "NRMSE", "coverage_50", "coverage_90"):
        assert key in result.metrics, key
    assert 0.0 <= result.metrics["coverage_50"] <= result.metrics["coverage_90"] <= 1.0
    assert result.nfe == 3 and result.num_parameters > 0 and result.train_seconds > 0
    assert set(result.baselines) == {"seasonal_naive"}
    run_dir = Path(result.run_dir)
    assert run_dir.parent == tmp_path / "tiny"
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["metrics"]["mean_wQuantileLoss"] == pytest.approx(result.metrics["mean_wQuantileLoss"])
    assert validate_config(yaml.safe_load((run_dir / "config.yaml").read_text()))["data"]["max_series"] == 4
    assert (run_dir / "forecasts.png").stat().st_size > 0
    # TensorBoard: event files with the config's hyperparameters and the final test metrics
    log_dir = Path(result.log_dir)
    assert list(log_dir.glob("events.out.tfevents.*"))
    hparams = yaml.safe_load((log_dir / "hparams.yaml").read_text())
    assert hparams["components.architecture.params.model_dim"] == 16
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for events in log_dir.glob("events.out.tfevents.*"):
        tags |= set(EventAccumulator(str(events)).Reload().Tags()["scalars"])
    assert {"train_loss", "test/mean_wQuantileLoss"} <= tags
    predictor = Predictor.deserialize(Path(result.predictor_path))
    forecast = next(
        iter(
            predictor.predict(
                [{"start": pd.Period("2020-01-01 00:00", "h"), "target": np.arange(300.0) % 24}], num_samples=4
            )
        )
    )
    assert forecast.samples.shape == (4, 48)


calls = []


@Registry.register("experiment", "test_recording")
class RecordingExperiment(BaseExperiment):
    """Records its steps; trains nothing."""

    def setup(self):
        calls.append(("setup", self.params["tag"], self.seed))

    def train(self):
        calls.append(("train",))

    def evaluate(self):
        calls.append(("evaluate",))
        return ExperimentResult(
            name=self.name, dataset="none", metrics={"mean_wQuantileLoss": 1.0}, experiment_type=self.registry_name
        )


def test_experiment_type_selects_a_registered_experiment(tmp_path):
    assert {"forecast", "test_recording"} <= set(Registry.list("experiment"))
    assert Registry.get_class("experiment", "forecast") is ForecastExperiment
    config = tiny(experiment={"type": "test_recording", "params": {"tag": "x"}, "seed": 7})
    path = tmp_path / "recording.yaml"
    path.write_text(yaml.safe_dump(config))
    calls.clear()
    result = ExperimentRunner.from_config(path, output_dir=tmp_path).run()
    assert calls == [("setup", "x", 7), ("train",), ("evaluate",)]
    assert result.experiment_type == "test_recording"
    with pytest.raises(ConfigError, match="known experiment components: .*forecast"):
        validate_config(tiny(experiment={"type": "nosuch"}))
    with pytest.raises(RegistryError, match="does not derive from BaseExperiment"):
        Registry.register("experiment", "not_an_experiment")(dict)


def test_debug_overrides_shrink_the_run():
    from gluonts_diffusion.experiments.base import apply_overrides

    config = apply_overrides(tiny(training={"num_epochs": 50}, evaluation={"num_samples": 100}), debug=True, seed=3)
    assert config["training"]["num_epochs"] == 1 and config["training"]["num_batches_per_epoch"] == 2
    assert config["evaluation"]["num_samples"] == 20 and config["evaluation"]["num_series"] == 8
    assert config["experiment"]["seed"] == 3
    assert apply_overrides(tiny(), epochs=5)["training"]["num_epochs"] == 5
    canonical = tiny()
    canonical["training"]["max_epochs"] = canonical["training"].pop("num_epochs")
    assert apply_overrides(canonical, debug=True)["training"] == {**canonical["training"], "max_epochs": 1}
    assert "num_epochs" not in apply_overrides({"data": {"dataset": "x"}}, epochs=4)["training"]


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed (pip install '.[wandb]')")
def test_wandb_offline_logging(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    config = tiny(
        wandb={"enabled": True, "mode": "offline", "project": "gluonts-diffusion-tests"},
        logging={"tensorboard": False},
        evaluation={"baselines": []},
    )
    result = ExperimentRunner(config, dataset_path=data_dir, output_dir=tmp_path).run()
    runs = list((Path(result.run_dir) / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    assert Path(result.log_dir).name == "wandb" and not list(Path(result.run_dir).glob("tensorboard/events*"))


def test_catalog_cli(capsys):
    from gluonts_diffusion.catalog import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in ("architecture", "experiment", "noise", "objective", "preprocessing", "sampler", "sde"):
        assert f"{kind}:" in out
    assert "forecast" in out and "ddim" in out
    for argv in (["--json", "list", "sampler"], ["list", "sampler", "--json"]):  # the flag before or after
        assert main(argv) == 0
        assert "ddim" in json.loads(capsys.readouterr().out)["sampler"]
    assert main(["inspect", "sampler", "ddim"]) == 0
    out = capsys.readouterr().out
    assert "num_steps = 50" in out and "compatibility:" in out
    assert main(["inspect", "sampler", "nosuch"]) == 2
    assert "known sampler components" in capsys.readouterr().err
