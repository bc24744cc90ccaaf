"""validate_config names the bad key, the unknown component (with the known ones) or the wrong parameter;
config keys are the estimator's words, with the seed's words (BASE uses them) accepted as aliases."""

import copy

import pytest

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.experiments.config import ConfigError, estimator_kwargs, validate_config
from gluonts_diffusion.model.config import ALIASES, config_value
from gluonts_diffusion.run import main as run_main

BASE = {
    "experiment": {"name": "t"},
    "components": {
        "architecture": {"type": "transformer", "params": {"model_dim": 16, "num_heads": 2, "condition_dropout": 0.1}},
        "sde": {"type": "vpsde", "params": {"beta_min": 0.1, "beta_max": 20.0}},
        "sampler": {"type": "ddim", "params": {"num_steps": 5}},
    },
    "data": {"dataset": "m4_hourly", "history_len": 96, "predict_len": 48},
    "training": {"batch_size": 8, "learning_rate": "1e-4", "num_epochs": 2},
}


def with_change(path, value):
    config = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


def test_valid_config_passes():
    assert validate_config(BASE)["data"]["dataset"] == "m4_hourly"


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("trainig", {"batch_size": 3}, "unknown section 'trainig'; known sections: .*training"),
        ("training.batchsize", 3, r"unknown key training.batchsize; known keys: .*batch_size"),
        ("training.learning_rate", "fast", r"training.learning_rate must be a float"),
        ("training.num_epochs", 0, r"training.num_epochs must be >= 1"),
        (
            "components.sampler.type",
            "dpm_solver",
            r"components.sampler: unknown sampler 'dpm_solver'; known sampler components: .*ddim.*euler",
        ),
        (
            "components.sde.params",
            {"beta_maximum": 3},
            r"components.sde: sde 'vpsde' has no parameter 'beta_maximum'; accepted: .*beta_max",
        ),
        ("components.sde.params", {"beta_min": 30.0}, r"components.sde: sde 'vpsde': .*beta_min"),
        ("components.architecture.params", {"model_dimm": 8}, r"components.architecture: .*'model_dimm'"),
        ("components.noise", {"type": "standard", "parms": {}}, r"components.noise: unknown key 'parms'"),
        ("data.dataset", None, "data.dataset is required"),
        ("data.context_length", 96, r"data: 'history_len' is an alias of 'context_length'; give one of them, not both"),
        ("training.lr", 0.1, r"training: 'learning_rate' is an alias of 'lr'"),
        ("training.max_epochs", 0, r"training.max_epochs must be >= 1"),
        ("components.sampler.name", "ddim", r"components.sampler: 'type' is an alias of 'name'"),
        ("training.strategy", {"type": "horovod"}, r"training.strategy.type must be one of"),
    ],
)
def test_errors_name_the_problem(path, value, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(with_change(path, value))


def test_mapping_onto_estimator():
    kwargs = estimator_kwargs(validate_config(BASE), "H", 48)
    assert kwargs["context_length"] == 96 and kwargs["lr"] == 1e-4 and kwargs["batch_size"] == 8
    assert kwargs["trainer_kwargs"]["max_epochs"] == 2
    assert kwargs["condition_dropout"] == 0.1 and "condition_dropout" not in kwargs["architecture_kwargs"]
    assert kwargs["sampler"] == "ddim" and kwargs["sampler_kwargs"] == {"num_steps": 5}


def test_from_config_reads_metadata(data_dir):
    config = with_change("data.predict_len", None)
    estimator = DiffusionEstimator.from_config(config, dataset_path=data_dir)
    assert estimator.freq == "H" and estimator.prediction_length == 48 and estimator.context_length == 96
    sampler = estimator.components["sampler"]
    assert (sampler["name"], sampler["params"]) == ("ddim", {"num_steps": 5})


def test_run_cli_validate_only(tmp_path, capsys):
    import yaml

    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    assert run_main(["--config", str(good), "--validate-only"]) == 0
    assert "valid" in capsys.readouterr().out
    for name, bad in (
        ("nosuch", with_change("components.sampler.type", "nosuch")),
        ("num_epochz", with_change("training.num_epochz", 3)),
    ):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(bad))
        assert run_main(["--config", str(path), "--validate-only"]) == 2
        assert name in capsys.readouterr().err
    # without --validate-only the same check runs (once, in the experiment) before any data is loaded
    assert run_main(["--config", str(tmp_path / "nosuch.yaml"), "--dataset-path", str(tmp_path)]) == 2
    assert "invalid config" in capsys.readouterr().err


def canonical_form(config):
    """``config`` written with the estimator's words only (every alias of :data:`ALIASES` renamed)."""
    out = copy.deepcopy(config)
    for section in ("data", "training"):
        out[section] = {ALIASES[section].get(k, k): v for k, v in out[section].items()}
    out["components"] = {
        kind: {ALIASES["component"].get(k, k): v for k, v in entry.items()} for kind, entry in out["components"].items()
    }
    return out


def test_canonical_keys_and_aliases_map_onto_the_same_estimator():
    canonical = canonical_form(BASE)
    assert "history_len" not in canonical["data"] and canonical["components"]["sde"]["name"] == "vpsde"
    assert estimator_kwargs(validate_config(canonical), "H", 48) == estimator_kwargs(validate_config(BASE), "H", 48)
    assert config_value(canonical, "data", "context_length") == config_value(BASE, "data", "context_length") == 96
    assert config_value(BASE, "training", "max_epochs") == 2 and config_value(BASE, "data", "freq", "H") == "H"


def test_the_experiment_validates_the_config_once(tmp_path, monkeypatch):
    """run -> ExperimentRunner -> experiment: one validation per run (none repeated in the runner or CLI)."""
    import gluonts_diffusion.experiments.config as experiment_config
    from gluonts_diffusion.experiments.runner import ExperimentRunner

    calls = []
    original = experiment_config.validate_model_config
    monkeypatch.setattr(experiment_config, "validate_model_config", lambda c: calls.append(1) or original(c))
    config = with_change("experiment", {"name": "t", "type": "test_validated_once"})

    from gluonts_diffusion.core import Registry
    from gluonts_diffusion.experiments import BaseExperiment

    @Registry.register("experiment", "test_validated_once")
    class Nothing(BaseExperiment):
        """Does nothing."""

        def run(self):
            return self.config

    try:
        ran = ExperimentRunner(config, output_dir=tmp_path).run()  # the validated config is the canonical one
        assert ran["data"] == {"dataset": "m4_hourly", "context_length": 96, "prediction_length": 48}
    finally:
        Registry._components["experiment"].pop("test_validated_once")
    assert calls == [1]


def test_run_cli_debug_writes_run_folder(tmp_path, data_dir, capsys):
    import json

    import yaml

    config = with_change("evaluation", {"num_samples": 8, "num_series": 4})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    code = run_main(
        ["--config", str(path), "--dataset-path", str(data_dir), "--debug", "--output-dir", str(tmp_path / "runs")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "components:" in out and "sampler       ddim(" in out and "seasonal_naive" in out
    (run_dir,) = (tmp_path / "runs" / "t").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metrics"]["mean_wQuantileLoss"] > 0 and "seasonal_naive" in metrics["baselines"]
    assert (run_dir / "forecasts.png").stat().st_size > 0 and (
        run_dir / "predictor" / "prediction-net-state.pt"
    ).exists()


def test_performance_options_reach_the_estimator():
    config = with_change("model", {"compile": {"backend": "eager"}, "gradient_checkpointing": True})
    config["training"]["precision"] = "bf16-mixed"
    kwargs = estimator_kwargs(validate_config(config), "H", 48)
    assert kwargs["compile"] == {"backend": "eager"} and kwargs["gradient_checkpointing"] is True
    assert kwargs["trainer_kwargs"]["precision"] == "bf16-mixed"
    estimator = DiffusionEstimator(**kwargs)
    assert estimator.model_kwargs()["gradient_checkpointing"] is True


def test_mathematically_undefined_combination_is_refused_with_a_reason(rectified_path_sde):
    """DDIM/DPM-Solver divide by alpha(t): a rectified-flow path (alpha(1) = 0) cannot use them, Euler can."""
    config = with_change("components.sde", {"type": rectified_path_sde})
    with pytest.raises(ConfigError, match=r"incompatible components: sampler 'ddim': .*alpha"):
        validate_config(config)
    config["components"]["sampler"] = {"type": "euler", "params": {"num_steps": 10}}
    validate_config(config)


def test_a_prediction_length_past_the_datasets_horizon_is_refused(tmp_path, data_dir, capsys):
    import yaml

    from gluonts_diffusion.data.datasets import load_dataset

    # m4_hourly's test windows are 48 steps past its training series: a 96-step window would score 48 training steps
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(with_change("data.predict_len", 96)))
    assert run_main(["--config", str(path), "--dataset-path", str(data_dir), "--output-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "run failed: prediction_length 96 is longer than dataset m4_hourly's horizon 48: its test windows would "
        "overlap the training data; use prediction_length <= 48 (the dataset's horizon) or a dataset split of your own"
    )
    # a shorter horizon is scored on the last 24 steps of each test window, the first 24 being history
    short = load_dataset("m4_hourly", data_dir, prediction_length=24, max_series=2)
    assert short.prediction_length == 24 and len(short.test) == 2
