"""The torch-free ``OnnxPredictor``: run where importing torch raises, it forecasts a slice of m4_hourly exactly as
the torch predictor does for the same noise (three component combinations, guidance and a forecast anchor included)."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny import tiny_estimator

from gluonts_diffusion.data.datasets import load_dataset
from gluonts_diffusion.model.export import export_model, replayed_predictor
from gluonts_diffusion.onnx import OnnxPredictor

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "transformer_ddim": {},
    "cnn_dpm": {
        "architecture": "cnn",
        "architecture_kwargs": {"residual_channels": 8, "num_layers": 2},
        "sampler": "dpm",
        "sampler_kwargs": {"num_steps": 4},
        "forecast_anchor": "bridge",
    },
    "guided": {"condition_dropout": 0.2, "guidance_scale": 2.0},
}
NUM_SERIES, NUM_SAMPLES = 6, 12  # 12 samples: two calls of the 8 exported per call

#: run with a `torch` package first on the path whose import raises
TORCH_FREE_SCRIPT = """
import itertools, json, sys
from pathlib import Path
import numpy as np
from gluonts.dataset.common import load_datasets
from gluonts_diffusion.onnx import OnnxPredictor

folders, data, out = sys.argv[1].split(","), Path(sys.argv[2]), Path(sys.argv[3])
test = load_datasets(data, data / "train", data / "test").test
series = list(itertools.islice(test, {num_series}))
for folder in folders:
    forecasts = list(OnnxPredictor.load(folder, seed=0).predict(series, num_samples={num_samples}))
    np.save(out / (Path(folder).name + ".npy"), np.stack([f.samples for f in forecasts]))
    ids = [[f.item_id, str(f.start_date)] for f in forecasts]
    (out / (Path(folder).name + ".json")).write_text(json.dumps(ids))
try:
    import gluonts_diffusion
    gluonts_diffusion.DiffusionEstimator
except ImportError as err:
    print(err)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "lightning"))))
"""


@pytest.fixture(scope="module")
def m4(data_dir):
    ds = load_dataset("m4_hourly", data_dir)
    return list(itertools.islice(ds.train, 16)), list(itertools.islice(ds.test, NUM_SERIES))


@pytest.fixture(scope="module")
def exported(m4, tmp_path_factory):
    """``{name: (torch predictor, export folder)}`` of three tiny models trained on m4_hourly."""
    root = tmp_path_factory.mktemp("onnx")
    trainer = {"max_epochs": 1, "enable_progress_bar": False, "enable_model_summary": False, "logger": False}
    out = {}
    for name, kwargs in MODELS.items():
        trainer_kwargs = {**trainer, "default_root_dir": str(root / "train"), "accelerator": "cpu"}
        predictor = tiny_estimator(trainer_kwargs, freq="H", prediction_length=48, **kwargs).train(m4[0])
        export_model(predictor, root / name, freq="H")
        out[name] = (predictor, root / name)
    return out


@pytest.fixture(scope="module")
def torch_free_forecasts(exported, data_dir, tmp_path_factory):
    """Samples, item ids and starts the OnnxPredictor gives in a process where ``import torch`` raises."""
    work = tmp_path_factory.mktemp("torch_free")
    (work / "torch").mkdir()
    (work / "torch" / "__init__.py").write_text("raise ImportError('torch is not installed here')\n")
    script = work / "run.py"
    script.write_text(TORCH_FREE_SCRIPT.format(num_series=NUM_SERIES, num_samples=NUM_SAMPLES))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(work), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    folders = ",".join(str(folder) for _, folder in exported.values())
    done = subprocess.run(
        [sys.executable, str(script), folders, str(data_dir / "m4_hourly"), str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *_, refusal, modules = done.stdout.strip().splitlines()
    assert json.loads(modules) == []  # neither torch nor lightning was imported
    assert refusal == "gluonts_diffusion.DiffusionEstimator needs torch; without it only gluonts_diffusion.onnx works"
    return {name: (np.load(work / f"{name}.npy"), json.loads((work / f"{name}.json").read_text())) for name in exported}


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_free_forecasts_equal_the_torch_predictors(name, exported, torch_free_forecasts, m4):
    predictor, folder = exported[name]
    samples, ids = torch_free_forecasts[name]
    noise = OnnxPredictor.load(folder, seed=0).noise  # the same noise stream the torch-free run drew
    expected = list(replayed_predictor(predictor, noise.draw).predict(m4[1], num_samples=NUM_SAMPLES))
    reference = list(predictor.predict(m4[1], num_samples=NUM_SAMPLES))
    assert ids == [[f.item_id, str(f.start_date)] for f in reference]
    torch_samples = np.stack([f.samples for f in expected])
    assert samples.shape == torch_samples.shape == (NUM_SERIES, NUM_SAMPLES, 48)
    # relative difference per series: the largest deviation over the series' largest value
    relative = np.abs(samples - torch_samples).max(axis=(1, 2)) / np.abs(torch_samples).max(axis=(1, 2))
    assert relative.max() <= 1e-4, relative


def test_the_seed_fixes_the_forecast(exported, m4):
    _, folder = exported["transformer_ddim"]
    first, again, other = (
        np.stack([f.samples for f in OnnxPredictor.load(folder, seed=seed).predict(m4[1][:2])]) for seed in (1, 1, 2)
    )
    assert first.shape == (2, 8, 48)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
