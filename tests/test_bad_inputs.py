"""Every bad input of issue 10 either works correctly or fails with one line naming the input and what to do."""

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from lightning.pytorch import seed_everything
from tiny import TINY_CONFIG, quiet_trainer, synthetic, tiny_config, tiny_estimator

from gluonts_diffusion import run
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.data.datasets import load_dataset
from gluonts_diffusion.experiments.runner import ExperimentRunner
from gluonts_diffusion.model.lightning_module import DiffusionLightningModule
from gluonts_diffusion.model.module import DiffusionModel

PREDICTION_LENGTH = 8


def estimator(tmp_path, **kwargs):
    """The tiny transformer for daily series, 8 steps ahead."""
    return tiny_estimator(quiet_trainer(tmp_path), **{"freq": "D", "prediction_length": PREDICTION_LENGTH, **kwargs})


def with_target(entries, index, change):
    """A copy of ``entries`` whose ``index``-th target is ``change(target)``."""
    out = [dict(entry) for entry in entries]
    out[index]["target"] = change(out[index]["target"].copy())
    return out


def with_inf(target):
    target[20] = np.inf
    target[30] = -np.inf
    return target


def forecasts(tmp_path, data, predict_on=None, seed=0, **kwargs):
    """Sample paths of the tiny model trained on ``data`` (fixed seed) for ``predict_on`` (default ``data``)."""
    seed_everything(seed, verbose=False)
    predictor = estimator(tmp_path, **kwargs).train(data)
    torch.manual_seed(seed)
    return [f.samples for f in predictor.predict(predict_on or data)], predictor


# ---------------------------------------------------------------- what works


def test_inf_in_training_data_is_masked(tmp_path):
    data = with_target(synthetic(3, 60), 1, with_inf)
    samples, predictor = forecasts(tmp_path, data)
    weights = torch.cat([p.flatten() for p in predictor.prediction_net.parameters()])
    assert torch.isfinite(weights).all()
    assert all(np.isfinite(s).all() for s in samples)


def test_inf_in_prediction_history_is_masked(tmp_path):
    data = synthetic(3, 60)
    samples, _ = forecasts(tmp_path, data, predict_on=with_target(data, 1, with_inf))
    assert np.isfinite(samples[1]).all()
    assert 0 < np.median(samples[1]) < 30  # the series' own scale (level 10, amplitude 3)


def test_values_near_float32_limit_give_forecasts_of_that_scale(tmp_path):
    # up to 1.4e38 (float32 max 3.4e38); x0-parameterization keeps an untrained model's
    # samples within a few scales of the history (eps-parameterized untrained samples reach +-360 scales)
    data = [dict(entry, target=entry["target"] * np.float32(1e37)) for entry in synthetic(3, 60)]
    samples, _ = forecasts(tmp_path, data, objective_kwargs={"parameterization": "x0"})
    assert all(np.isfinite(s).all() for s in samples)
    assert all(1e37 < np.median(s) < 3e38 for s in samples)


@pytest.mark.parametrize("factor", [1e-9, 1e12])
def test_forecasts_scale_with_the_data(tmp_path, factor):
    """Same seed, series ``x`` and ``factor * x``: forecasts differ by ``factor``. Not exactly: the network sees
    log(scale) as a feature (as GluonTS's DeepAR); measured differences are 2-4% of the forecast's level, where
    an absolute floor on the scale gave forecasts of the wrong magnitude (1e9 times too wide at 1e-9)."""
    data = synthetic(3, 60)
    base, _ = forecasts(tmp_path / "x", data)
    scaled, _ = forecasts(tmp_path / "cx", [dict(e, target=e["target"] * np.float32(factor)) for e in data])
    for b, s in zip(base, scaled):
        assert np.abs(s.mean(0) / factor - b.mean(0)).max() <= 0.06 * np.abs(b.mean(0)).max()


@pytest.mark.parametrize("factor", [1e-9, 1e12, 1e37])
@pytest.mark.parametrize("scaling", ["std", "mean"])
def test_scaling_statistics_scale_with_the_data(factor, scaling):
    """The preprocessing's statistics alone are exactly equivariant (a constant series included)."""
    preprocessor = Registry.get("preprocessing", "raw", scaling=scaling)
    x = torch.cat(
        [torch.randn(3, 50, 1, generator=torch.Generator().manual_seed(0)) * 3 + 10, torch.full((1, 50, 1), 7.0)]
    )
    observed = torch.ones_like(x)
    state, scaled_state = preprocessor.fit(x, observed), preprocessor.fit(x * factor, observed)
    torch.testing.assert_close(scaled_state["scale"], state["scale"] * factor, rtol=1e-6, atol=0)
    torch.testing.assert_close(
        preprocessor.normalize(x * factor, scaled_state), preprocessor.normalize(x, state), rtol=1e-5, atol=1e-5
    )


# ---------------------------------------------------------------- refused: estimator arguments


@pytest.mark.parametrize(
    "argument, value",
    [
        ("batch_size", 0),
        ("num_batches_per_epoch", 0),
        ("num_parallel_samples", 0),
        ("context_length", -5),
        ("context_length", 0),
        ("prediction_length", 0),
        ("target_dim", 0),
    ],
)
def test_bad_estimator_argument(tmp_path, argument, value):
    with pytest.raises(ValueError) as err:
        estimator(tmp_path, **{argument: value})
    assert str(err.value) == f"{argument} must be an integer >= 1, got {value!r}"


# ---------------------------------------------------------------- refused: data


def two_rows(entries):
    return [dict(e, target=np.stack([e["target"], e["target"]])) for e in entries]


@pytest.mark.parametrize(
    "case, data, kwargs, message",
    [
        ("empty", [], {}, "training data is empty: give train() at least one series"),
        (
            "too short",
            synthetic(3, [5, 8, 7]),
            {},
            "every training series is too short: lengths 5, 7, 8 (longest 8), but a training window needs at least "
            "prediction_length + 1 = 9 steps; give longer series or a smaller prediction_length",
        ),
        (
            "2-D target, target_dim=1",
            two_rows(synthetic(2, 40)),
            {},
            "series '0': target has shape (2, 40), but target_dim=1 expects (T,); set target_dim=2 or reshape the "
            "target",
        ),
        (
            "wrong target_dim",
            two_rows(synthetic(2, 40)),
            {"target_dim": 3},
            "series '0': target has shape (2, 40), but target_dim=3 expects (3, T); set target_dim=2 or reshape the "
            "target",
        ),
        (
            "other frequency",
            synthetic(2, 40, freq="h"),
            {},
            "series '0': start 2021-01-01 00:00 has frequency 'h', but the estimator's freq is 'D'; resample the "
            "series to 'D' or train with freq='h'",
        ),
    ],
)
def test_bad_training_data(tmp_path, case, data, kwargs, message):
    with pytest.raises(ValueError) as err:
        estimator(tmp_path, **kwargs).train(data)
    assert str(err.value) == message


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return estimator(tmp_path_factory.mktemp("trained")).train(synthetic(3, 60))


@pytest.mark.parametrize(
    "case, entry, message",
    [
        (
            "empty series",
            {"start": pd.Period("2021-01-01", "D"), "target": np.array([], dtype=np.float32), "item_id": "e"},
            "series 'e': empty target at prediction; give at least one past value",
        ),
        (
            "other frequency, no item id",
            {"start": pd.Period("2021-01-01", "W"), "target": np.ones(30, dtype=np.float32)},
            "the series starting 2020-12-28/2021-01-03: start 2020-12-28/2021-01-03 has frequency 'W-SUN', but the "
            "estimator's freq is 'D'; resample the series to 'D' or train with freq='W-SUN'",
        ),
    ],
)
def test_bad_prediction_data(predictor, case, entry, message):
    with pytest.raises(ValueError) as err:
        list(predictor.predict([entry]))
    assert str(err.value) == message


def test_nan_loss_stops_training(tmp_path, monkeypatch):
    def nan_loss(self, past_target, *args, **kwargs):
        return torch.full((past_target.shape[0],), float("nan"), requires_grad=True)

    monkeypatch.setattr(DiffusionModel, "loss", nan_loss)
    with pytest.raises(FloatingPointError) as err:
        estimator(tmp_path).train(synthetic(3, 60))
    assert str(err.value) == (
        "training loss is nan at epoch 0, batch 0: training stopped; check the data for extreme values, or lower lr"
    )


# ---------------------------------------------------------------- refused: configs, --validate-only


def validate(tmp_path, capsys, config, *flags):
    """``run --validate-only`` on ``config``: (exit status, the one stderr line)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    status = run.main(["--config", str(path), "--validate-only", *flags])
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) <= 1
    return status, (lines[0].replace(str(path), "CONFIG") if lines else "")


@pytest.mark.parametrize(
    "section, value, message",
    [
        (
            "data",
            {"dataset": "no_such_dataset"},
            "invalid config CONFIG: data.dataset: dataset 'no_such_dataset' is neither in 'DATA' (which holds: "
            "DATASETS) nor a GluonTS repository name",
        ),
        (
            "components",
            {"architecture": {"name": "transformer", "params": {"model_dim": "big"}}},
            "invalid config CONFIG: components.architecture: architecture 'transformer': model_dim must be an "
            "integer >= 1, got 'big'",
        ),
        (
            "components",
            {"architecture": {"name": "transformer", "params": {"model_dim": 16, "num_heads": 5}}},
            "invalid config CONFIG: components.architecture: architecture 'transformer': model_dim (16) must be "
            "divisible by num_heads (5)",
        ),
        (
            "components",
            {"sampler": {"name": "ddim", "params": {"num_steps": 20.5}}},
            "invalid config CONFIG: components.sampler: sampler 'ddim': num_steps must be an integer >= 1, got 20.5",
        ),
    ],
)
def test_validate_only_refuses(tmp_path, capsys, data_dir, section, value, message):
    status, line = validate(tmp_path, capsys, tiny_config(**{section: value}), "--dataset-path", str(data_dir))
    known = ", ".join(sorted(p.name for p in data_dir.iterdir() if (p / "metadata.json").exists()))
    assert (status, line) == (2, message.replace("'DATA'", repr(str(data_dir))).replace("DATASETS", known))


def test_validate_only_passes_a_good_config(tmp_path, capsys, data_dir):
    assert validate(tmp_path, capsys, TINY_CONFIG, "--dataset-path", str(data_dir)) == (0, "")


def test_offline_without_dataset_path(monkeypatch):
    import gluonts.dataset.repository as repository

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(repository, "get_dataset", offline)
    with pytest.raises(ConnectionError) as err:
        load_dataset("m4_hourly")
    assert str(err.value) == (
        "dataset 'm4_hourly' could not be downloaded ([Errno -3] Temporary failure in name resolution); offline, "
        "pass --dataset-path DIR or set $GLUONTS_DIFFUSION_DATA to a folder holding it"
    )


def test_dataset_path_as_text(data_dir):
    """A folder given as a string loads as a ``Path`` does (and names it when the dataset is not there)."""
    assert len(load_dataset("m4_hourly", str(data_dir), max_series=2).train) == 2
    with pytest.raises(FileNotFoundError, match="is neither in"):
        load_dataset("no_such_set", str(data_dir))


# ---------------------------------------------------------------- runs


def test_failed_run_leaves_no_empty_folder(tmp_path, capsys, data_dir):
    config = tiny_config(data={**TINY_CONFIG["data"], "freq": "D"})  # m4_hourly's series are hourly
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    output = tmp_path / "runs"
    status = run.main(["--config", str(path), "--dataset-path", str(data_dir), "--output-dir", str(output)])
    assert (status, capsys.readouterr().err.strip().splitlines()[-1]) == (
        1,
        "run failed: series '0': start 1750-01-01 00:00 has frequency 'h', but the estimator's freq is 'D'; "
        "resample the series to 'D' or train with freq='h'",
    )
    assert list(output.rglob("*.*")) == [] and not list((output / "tiny").iterdir())


def test_resume_continues_from_the_last_checkpoint(tmp_path, data_dir, monkeypatch):
    config = tiny_config(evaluation={"num_samples": 4, "num_series": 2, "baselines": []})
    run_dir = ExperimentRunner(config, dataset_path=data_dir, output_dir=tmp_path, epochs=1).run().run_dir
    assert torch.load(f"{run_dir}/checkpoints/last.ckpt", weights_only=True)["global_step"] == 2
    steps = []
    step = DiffusionLightningModule.training_step
    monkeypatch.setattr(DiffusionLightningModule, "training_step", lambda *a: steps.append(1) or step(*a))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**config, "training": {**config["training"], "num_epochs": 2}}))
    assert run.main(["--config", str(path), "--dataset-path", str(data_dir), "--resume", run_dir]) == 0
    assert len(steps) == 2  # only the second epoch's 2 batches ran
    assert torch.load(f"{run_dir}/checkpoints/last.ckpt", weights_only=True)["global_step"] == 4
    assert (Path(run_dir) / "metrics.json").exists()


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(ValueError) as err:
        ExperimentRunner(TINY_CONFIG, run_dir=tmp_path, resume=True)
    assert str(err.value) == (
        f"--resume {tmp_path}: no checkpoints/last.ckpt there (the run ended before its first epoch, or it is not a "
        "run folder); start a new run instead"
    )
