"""Distributed training: two-process CPU DDP (gloo) through the run CLI, then the saved predictor
deserializes and predicts. Lightning's DDP launcher re-runs the command line for rank 1, so the run
goes through a subprocess (``python -m gluonts_diffusion.run``), not inside pytest."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from gluonts.model.predictor import Predictor
from tiny import TINY_CONFIG, tiny_config

from gluonts_diffusion.experiments.config import ConfigError, estimator_kwargs, lightning_strategy, validate_config

ROOT = Path(__file__).resolve().parents[1]

#: the tiny experiment on two CPU processes (gloo), without baselines
DDP_CONFIG = tiny_config(
    experiment={"name": "ddp", "seed": 0},
    training={
        **TINY_CONFIG["training"],
        "devices": 2,
        "num_nodes": 1,
        "strategy": {"type": "ddp", "process_group_backend": "gloo"},
    },
    evaluation={"num_samples": 8, "baselines": []},
)


def test_training_section_goes_to_lightning():
    config = validate_config(DDP_CONFIG)
    trainer = estimator_kwargs(config, "h", 48)["trainer_kwargs"]
    assert (trainer["accelerator"], trainer["devices"], trainer["num_nodes"], trainer["max_epochs"]) == ("cpu", 2, 1, 1)
    from lightning.pytorch.strategies import DDPStrategy

    strategy = trainer["strategy"]
    assert isinstance(strategy, DDPStrategy) and strategy._process_group_backend == "gloo"
    assert strategy._ddp_kwargs["find_unused_parameters"] is True
    # plain names: DDP flavours need find_unused_parameters (guidance / conditional parameters), others pass through
    assert lightning_strategy("ddp") == "ddp_find_unused_parameters_true"
    assert lightning_strategy("ddp_spawn") == "ddp_spawn_find_unused_parameters_true"
    assert lightning_strategy("auto") == "auto" and lightning_strategy("fsdp") == "fsdp"
    with pytest.raises(ConfigError, match="training.strategy.type"):
        validate_config({**DDP_CONFIG, "training": {"strategy": {"type": "horovod"}}})


@pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="torch.distributed with the gloo backend is not available",
)
def test_two_process_cpu_ddp_training(data_dir, tmp_path):
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(DDP_CONFIG))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    for name in (
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "NODE_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "GLUONTS_DIFFUSION_RUN_DIR",
    ):
        env.pop(name, None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gluonts_diffusion.run",
            "--config",
            str(config),
            "--dataset-path",
            str(data_dir),
            "--output-dir",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "MEMBER: 2/2" in log and "distributed_backend=gloo" in log
    run_dirs = list((tmp_path / "runs" / "ddp").iterdir())
    assert len(run_dirs) == 1, "both ranks must share one run folder"
    assert log.count("run folder:") == 1, "only rank 0 reports"
    predictor = Predictor.deserialize(run_dirs[0] / "predictor")
    from gluonts_diffusion.data.datasets import load_dataset

    data = load_dataset("m4_hourly", data_dir, max_series=2)
    forecasts = list(predictor.predict(data.train, num_samples=4))
    assert len(forecasts) == 2 and forecasts[0].samples.shape == (4, 48) and np.isfinite(forecasts[0].samples).all()
