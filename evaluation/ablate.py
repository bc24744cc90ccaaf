"""Ablation: train one estimator variant on m4_hourly and score it with two samplers (a script, not a test).

    python evaluation/ablate.py --estimator-kwargs '{"objective_kwargs": {"parameterization": "x0"}, "ema_decay": null}'
    python evaluation/ablate.py --estimator-kwargs '{"objective_kwargs": {"parameterization": "x0"}}'

prints one line per sampler: CRPS (mean_wQuantileLoss), MASE, training and prediction seconds, coverage of the
50/80/90% intervals, calibration error and sharpness.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch
from common import CALIBRATION_HEADER, calibration_cells, quiet_trainer, train_timed

from gluonts_diffusion import DiffusionEstimator, with_sampler
from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path
from gluonts_diffusion.experiments.scoring import score


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimator-kwargs", default="{}", help="JSON of DiffusionEstimator arguments")
    parser.add_argument("--dataset", default="m4_hourly")
    parser.add_argument("--dataset-path")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--num-series", type=int, default=100)
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args(argv)

    data = load_dataset(args.dataset, resolve_data_path(args.dataset_path))
    overrides = {"calibration": None, **json.loads(args.estimator_kwargs)}  # one component at a time: no map
    torch.manual_seed(0)
    estimator = DiffusionEstimator(
        freq=data.freq,
        prediction_length=data.prediction_length,
        predict_batch_size=128,
        trainer_kwargs=quiet_trainer(args.epochs, tempfile.mkdtemp()),
        **overrides,
    )
    predictor, train_seconds = train_timed(estimator, data.train)
    for name, kwargs in (("dpm", {"num_steps": 10}), ("ddim", {"num_steps": 20})):
        metrics, _, _, seconds = score(
            with_sampler(predictor, name, kwargs), data.test[: args.num_series], num_samples=args.num_samples
        )
        print(
            f"{overrides} {args.epochs} epochs, {name} {kwargs}: CRPS {metrics['mean_wQuantileLoss']:.4f} "
            f"MASE {metrics['MASE']:.3f} train {train_seconds:.0f} s predict {seconds:.1f} s; "
            f"{CALIBRATION_HEADER}: {calibration_cells(metrics)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
