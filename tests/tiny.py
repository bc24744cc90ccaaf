"""The smallest estimators and experiment configs that still train, predict and write everything."""

import copy

import numpy as np
import pandas as pd

from gluonts_diffusion import DiffusionEstimator

#: a transformer small enough for a training step in milliseconds
TINY_ARCHITECTURE = {"model_dim": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0}


def quiet_trainer(root, **extra):
    """Tiny, quiet Lightning settings writing under ``root``."""
    return {
        "max_epochs": 1,
        "default_root_dir": str(root),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "accelerator": "cpu",
        **extra,
    }


def tiny_estimator(trainer_kwargs, freq="H", prediction_length=48, **kwargs):
    """A DiffusionEstimator of the tiny transformer: 3 sampler steps, 3 batches of 16 per epoch; not recalibrated
    (the default ``calibration="auto"`` would hold windows out: the tests that want it say so)."""
    defaults = dict(
        freq=freq,
        prediction_length=prediction_length,
        context_length=2 * prediction_length,
        architecture_kwargs=TINY_ARCHITECTURE,
        sampler_kwargs={"num_steps": 3},
        num_parallel_samples=8,
        batch_size=16,
        num_batches_per_epoch=3,
        trainer_kwargs=trainer_kwargs,
        calibration=None,
    )
    defaults.update(kwargs)
    return DiffusionEstimator(**defaults)


def synthetic(n, length, start="2021-01-01", freq="D", nan_fraction=0.0, seed=0):
    """``n`` weekly-seasonal series (one length, or a list of lengths) starting 5 periods apart."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = np.arange(length[i] if isinstance(length, list) else length)
        target = 10 + 3 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.5, len(t))
        target[rng.random(len(t)) < nan_fraction] = np.nan
        out.append({"start": pd.Period(start, freq) + 5 * i, "target": target.astype(np.float32), "item_id": str(i)})
    return out


TINY_CONFIG = {
    "experiment": {"name": "tiny", "seed": 0},
    "components": {
        "architecture": {
            "type": "transformer",
            "params": {"model_dim": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0},
        },
        "sampler": {"type": "ddim", "params": {"num_steps": 3}},
    },
    "data": {"dataset": "m4_hourly", "history_len": 96, "max_series": 4},
    "training": {
        "batch_size": 8,
        "num_epochs": 1,
        "num_batches_per_epoch": 2,
        "accelerator": "cpu",
        "trainer_kwargs": {"enable_progress_bar": False, "enable_model_summary": False},
    },
    "evaluation": {"num_samples": 8},
    "logging": {"tensorboard": False},
}


def tiny_config(**sections):
    """A fresh copy of :data:`TINY_CONFIG` with whole ``sections`` replaced."""
    config = copy.deepcopy(TINY_CONFIG)
    config.update(copy.deepcopy(sections))
    return config
