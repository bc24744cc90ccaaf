"""``gluonts_diffusion.distill`` end to end on the tiny estimator: a K-step DDIM predictor that serializes,
re-forecasts identically and keeps its sample paths apart; the CLI and its error lines."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny import quiet_trainer, synthetic, tiny_estimator

import gluonts_diffusion
from gluonts_diffusion import load_predictor
from gluonts_diffusion.distill import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("distill")


@pytest.fixture(scope="module")
def teacher(root):
    """The tiny transformer (3 sampler steps, x0 output) trained for two epochs on four daily series."""
    estimator = tiny_estimator(
        quiet_trainer(root, max_epochs=2), freq="D", prediction_length=7, objective_kwargs={"parameterization": "x0"}
    )
    return estimator.train(synthetic(4, 60))


@pytest.fixture(scope="module")
def distilled(teacher, root):
    return gluonts_diffusion.distill(
        teacher,
        synthetic(4, 60),
        num_steps=2,
        epochs_per_stage=1,
        num_batches_per_epoch=2,
        batch_size=8,
        trainer_kwargs=quiet_trainer(root),
    )


def samples(predictor, data, seed, num_samples=16):
    return np.stack([f.samples for f in predictor.predict(data, num_samples=num_samples, seed=seed)])


def test_the_distilled_predictor_is_a_two_step_deterministic_ddim(distilled, teacher):
    params = distilled.prediction_net.hparams["model_kwargs"]["components"]["sampler"]
    assert params["name"] == "ddim"
    assert params["params"] == {"num_steps": 2, "eta": 0.0, "time_grid": "logsnr"}  # the default dpm's grid
    assert distilled.prediction_net.sampling_model.sampler.nfe == 2
    assert teacher.prediction_net.sampling_model.sampler.num_steps == 3  # the teacher is left as it was
    student = distilled.prediction_net.sampling_model.state_dict()
    original = teacher.prediction_net.sampling_model.state_dict()
    assert any(not torch.equal(student[k], original[k]) for k in original)


def test_it_serializes_and_reforecasts_identically(distilled, tmp_path):
    distilled.serialize(tmp_path / "model")
    loaded = load_predictor(tmp_path / "model")
    data = synthetic(3, 60, seed=5)
    np.testing.assert_array_equal(samples(distilled, data, seed=3), samples(loaded, data, seed=3))


def test_paths_differ_and_spread_like_the_teachers(distilled, teacher):
    data = synthetic(3, 60, seed=5)
    student, original = samples(distilled, data, seed=1, num_samples=64), samples(teacher, data, seed=1, num_samples=64)
    assert np.all(student.std(axis=1) > 0)  # a distribution, not one line per series
    ratio = student.std(axis=1).mean() / original.std(axis=1).mean()
    assert 0.5 < ratio < 2.0, ratio  # measured 1.06 (seeded; a few batches of training)


def test_the_package_attribute_is_distill_before_and_after_the_cli_module_is_imported():
    code = (
        "import gluonts_diffusion as g, types; a = g.distill; import gluonts_diffusion.distill as m; "
        "b = g.distill; print(isinstance(a, types.FunctionType), b is m, callable(b), m.__call__.__doc__ is None)"
    )
    reverse = (
        "import gluonts_diffusion.distill as m, gluonts_diffusion as g; print(g.distill is m, callable(g.distill))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = [subprocess.run([sys.executable, "-c", c], capture_output=True, text=True, env=env) for c in (code, reverse)]
    assert [o.stdout.split() for o in out] == [["True", "True", "True", "True"], ["True", "True"]], out


@pytest.mark.parametrize("order", ["function", "module"])
def test_both_forms_reach_the_same_function(teacher, order):
    import gluonts_diffusion.distill as module
    from gluonts_diffusion.model.distillation import distill

    call = distill if order == "function" else module
    with pytest.raises(ValueError) as err:
        call(teacher, synthetic(2, 60), 2, teacher_steps=6)
    assert str(err.value) == "teacher_steps must be num_steps * 2^m with m >= 1 (num_steps 2: 4, 8, 16, ...), got 6"


def write_dataset(folder: Path) -> None:
    """Four synthetic daily series in GluonTS's on-disk layout (``metadata.json``, ``train/data.json``)."""
    (folder / "train").mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"freq": "D", "prediction_length": 7}))
    rows = [
        {"start": str(e["start"]), "target": e["target"].tolist(), "item_id": e["item_id"]} for e in synthetic(4, 60)
    ]
    (folder / "train" / "data.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_cli_distils_a_saved_predictor(teacher, tmp_path, capsys):
    teacher.serialize(tmp_path / "teacher")
    write_dataset(tmp_path / "data" / "tiny_daily")
    (tmp_path / "config.yaml").write_text("data: {dataset: tiny_daily, prediction_length: 7}\n")
    argv = ["--model", str(tmp_path / "teacher"), "--config", str(tmp_path / "config.yaml"), "--steps", "1"]
    argv += ["--output", str(tmp_path / "out"), "--dataset-path", str(tmp_path / "data")]
    assert main([*argv, "--epochs-per-stage", "1", "--batches-per-epoch", "1", "--teacher-steps", "2"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"distilled {tmp_path / 'teacher'} (2-step DDIM teacher) to 1 steps: {tmp_path / 'out'}"
    )
    assert load_predictor(tmp_path / "out").prediction_net.sampling_model.sampler.num_steps == 1


@pytest.mark.parametrize(
    "extra, status, line",
    [
        (["--steps", "0"], 2, "python -m gluonts_diffusion.distill: error: --steps must be >= 1, got 0"),
        (
            ["--steps", "2", "--teacher-steps", "6"],
            1,
            "distill failed: teacher_steps must be num_steps * 2^m with m >= 1 (num_steps 2: 4, 8, 16, ...), got 6",
        ),
    ],
)
def test_cli_refuses_bad_steps_in_one_line(teacher, tmp_path, capsys, extra, status, line):
    teacher.serialize(tmp_path / "teacher")
    argv = ["--model", str(tmp_path / "teacher"), "--config", "unused.yaml", "--output", str(tmp_path / "out")]
    try:
        assert main([*argv, *extra]) == status
    except SystemExit as exit:
        assert exit.code == status
    assert capsys.readouterr().err.strip().splitlines()[-1] == line


def test_cli_names_a_missing_model_folder(tmp_path, capsys):
    argv = ["--model", str(tmp_path / "nothing"), "--config", "c.yaml", "--steps", "2", "--output", str(tmp_path)]
    assert main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        f"distill failed: {tmp_path / 'nothing'} is not a folder: give the folder predictor.serialize(path) wrote"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs_per_stage": 0}, "epochs_per_stage must be an integer >= 1, got 0"),
        ({"num_batches_per_epoch": 2.5}, "num_batches_per_epoch must be an integer >= 1, got 2.5"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"learning_rate": 0.0}, "learning_rate must be a number > 0, got 0.0"),
    ],
)
def test_bad_settings_are_named_before_any_training(teacher, change, message):
    with pytest.raises(ValueError) as caught:
        gluonts_diffusion.distill(teacher, synthetic(4, 60), num_steps=1, **change)
    assert str(caught.value) == message


def test_a_guided_predictor_is_refused(teacher):
    guided = gluonts_diffusion.with_sampler(teacher, guidance_scale=2.0)
    with pytest.raises(ValueError) as caught:
        gluonts_diffusion.distill(guided, synthetic(4, 60), num_steps=1)
    assert str(caught.value) == (
        "distill: the predictor samples with guidance_scale 2.0; guided sampling is not distilled: "
        "distill with_sampler(predictor, guidance_scale=1.0)"
    )
