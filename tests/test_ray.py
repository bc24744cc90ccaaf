"""``predict --engine ray``: a local Ray with 2 workers gives the local command's output, line for line."""

import os
from pathlib import Path

import pytest
from serving_data import BAD_ROWS, NUM_SERIES, saved_m4_model

from gluonts_diffusion.predict import main

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs whose workers import this checkout."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def test_ray_engine_gives_the_local_output(local_ray, tmp_path, data_dir, capsys):
    _, model, source, _ = saved_m4_model(tmp_path, data_dir)
    common = ["--model", str(model), "--input", str(source), "--seed", "5", "--num-samples", "8", "--batch-size", "2"]
    assert main([*common, "--output", str(tmp_path / "local.json")]) == 0
    local_errors = capsys.readouterr().err.splitlines()
    assert main([*common, "--output", str(tmp_path / "ray.json"), "--engine", "ray", "--num-workers", "2"]) == 0
    ray_errors = capsys.readouterr().err.splitlines()
    local = (tmp_path / "local.json").read_text()
    assert len(local.splitlines()) == NUM_SERIES
    assert (tmp_path / "ray.json").read_text() == local
    bad = [line for line in ray_errors if line.startswith(str(source))]
    assert bad == [line for line in local_errors if line.startswith(str(source))] and len(bad) == len(BAD_ROWS)
