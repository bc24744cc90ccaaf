"""The smallest experiment config that still trains, backtests and writes everything (shared by the CLI tests)."""
import copy

TINY_CONFIG = {
    "experiment": {"name": "tiny", "seed": 0},
    "components": {
        "architecture": {"type": "transformer", "params": {"model_dim": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0}},
        "sampler": {"type": "ddim", "params": {"num_steps": 3}},
    },
    "data": {"dataset": "m4_hourly", "history_len": 96, "max_series": 4},
    "training": {
        "batch_size": 8, "num_epochs": 1, "num_batches_per_epoch": 2, "accelerator": "cpu",
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
