"""Fixed-seed forecasts of a set of component combinations: the behaviour a refactor must not change.

``python tests/regression/cases.py --write [CASE ...]`` records ``forecasts.npz`` (the named cases only, the
others kept as recorded) from the current code;
``tests/test_regression_forecasts.py`` trains the same cases again and compares.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny import quiet_trainer, synthetic, tiny_estimator  # noqa: E402

REFERENCE = Path(__file__).with_name("forecasts.npz")

#: case name -> estimator arguments beyond the tiny defaults
CASES = {
    "default": {},  # edm + DPM-Solver++ since the defaults changed (issue 9); the previous defaults:
    "eps_ddim": {"sampler": "ddim", "objective_kwargs": {"parameterization": "eps"}},
    "cnn_x0_dpm": {
        "architecture": "cnn",
        "architecture_kwargs": {"residual_channels": 8, "num_layers": 2, "hidden_size": 8},
        "objective_kwargs": {"parameterization": "x0"},
        "sampler": "dpm",
        "sampler_kwargs": {"num_steps": 4},
    },
    "rnn_wavelet_correlated_heun": {
        "architecture": "rnn",
        "architecture_kwargs": {"hidden_size": 8, "num_layers": 1},
        "preprocessing": "wavelet",
        "preprocessing_kwargs": {"level": 2},
        "noise": "correlated",
        "objective_kwargs": {"parameterization": "eps"},
        "sampler": "heun",
        "sampler_kwargs": {"num_steps": 3},
    },
    "hybrid_subvp_score_euler": {
        "architecture": "hybrid",
        "architecture_kwargs": {"d_model": 8, "num_heads": 2, "num_conv_layers": 1, "num_attention_layers": 1},
        "sde": "subvpsde",
        "objective": "score_matching",
        "sampler": "euler",
        "sampler_kwargs": {"num_steps": 4},
    },
    "ensemble_learned_weights": {
        "architecture": "ensemble",
        "architecture_kwargs": {
            "models": ["transformer", "cnn"],
            "model_params": {
                "transformer": {"model_dim": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0},
                "cnn": {"residual_channels": 8, "num_layers": 2, "hidden_size": 8},
            },
        },
        "sampler": "ddim",
        "objective_kwargs": {"parameterization": "eps"},
    },
    "ensemble_mixture_validation": {
        "architecture": "ensemble",
        "architecture_kwargs": {
            "models": ["cnn", "rnn"],
            "aggregation": "mixture",
            "model_params": {
                "cnn": {"residual_channels": 8, "num_layers": 2, "hidden_size": 8},
                "rnn": {"hidden_size": 8, "num_layers": 1},
            },
        },
        "sampler": "ddim",
        "objective_kwargs": {"parameterization": "eps"},
        "validation": True,
    },
    "guided_flow_matching_pc": {
        "objective": "flow_matching",
        "condition_dropout": 0.2,
        "guidance_scale": 2.0,
        "sampler": "pc",
        "sampler_kwargs": {"num_steps": 3},
    },
    "vesde_variational_bound_ddim": {
        "sde": "vesde",
        "objective": "variational_bound",
        "sampler": "ddim",
        "sampler_kwargs": {"num_steps": 3, "eta": 1.0},
    },
    "checkpointed_multivariate": {
        "target_dim": 2,
        "gradient_checkpointing": True,
        "sampler": "ddim",
        "objective_kwargs": {"parameterization": "eps"},
    },
}


def dataset(target_dim: int):
    series = synthetic(6, 160, freq="h", nan_fraction=0.05, seed=3)
    if target_dim == 1:
        return series
    return [
        {"start": a["start"], "target": np.stack([a["target"], b["target"]]), "item_id": a["item_id"]}
        for a, b in zip(series[::2], series[1::2])
    ]


def forecast_case(name: str) -> np.ndarray:
    """Train case ``name`` (fixed seed, one thread) and return its forecast samples for the training series."""
    torch.set_num_threads(1)
    kwargs = dict(CASES[name])
    validation = kwargs.pop("validation", False)
    target_dim = kwargs.get("target_dim", 1)
    data = dataset(target_dim)
    with tempfile.TemporaryDirectory() as root:
        torch.manual_seed(0)
        np.random.seed(0)
        estimator = tiny_estimator(quiet_trainer(root), freq="h", prediction_length=12, **kwargs)
        predictor = estimator.train(data, validation_data=data if validation else None)
        torch.manual_seed(1)
        forecasts = list(predictor.predict(data, num_samples=8))
    return np.stack([f.samples for f in forecasts]).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"record {REFERENCE.name} from the current code")
    parser.add_argument("--check", action="store_true", help="compare bit for bit with the recorded forecasts")
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"default: every case ({', '.join(CASES)})")
    args = parser.parse_args()
    unknown = [name for name in args.cases if name not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; known: {', '.join(CASES)}")
    results = {name: forecast_case(name) for name in args.cases or CASES}
    if args.write:
        kept = dict(np.load(REFERENCE)) if REFERENCE.exists() else {}
        np.savez_compressed(REFERENCE, **{name: results.get(name, kept.get(name)) for name in CASES})
        print(f"wrote {REFERENCE}: {', '.join(f'{k} {v.shape}' for k, v in results.items())}")
    if args.check:
        reference = np.load(REFERENCE)
        for name, value in results.items():
            same = np.array_equal(value, reference[name], equal_nan=True)
            verdict = (
                "bit-identical" if same else f"DIFFERS, max abs diff {np.nanmax(np.abs(value - reference[name])):.3g}"
            )
            print(f"{name:32s} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
