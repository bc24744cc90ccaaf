"""Sampler benchmark: one trained model, every sampler at several step counts (a script, not a test).

Trains the model of ``--config`` (default: the quickstart) once on m4_hourly, then re-samples the same predictor with each sampler
(``gluonts_diffusion.model.resampling.with_sampler``) and prints CRPS (mean_wQuantileLoss), MASE,
network evaluations per path, coverage of the 50/80/90% intervals, calibration error, sharpness
(``scoring.calibration``) and wall time, as a Markdown table.

    python evaluation/bench_samplers.py --dataset-path ../shared/datasets            # CPU budget
    python evaluation/bench_samplers.py --epochs 40 --num-series 414 --euler-steps 5 10 20 50 100 1000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import CALIBRATION_HEADER, calibration_cells, calibration_row, quiet_trainer, train_timed

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path
from gluonts_diffusion.experiments.scoring import score
from gluonts_diffusion.model.predictor import load_predictor
from gluonts_diffusion.model.resampling import with_sampler


def sampler_grid(args):
    """(label, sampler name, kwargs) for every configuration measured."""
    grid = [(f"euler-{n}", "euler", {"num_steps": n}) for n in args.euler_steps]
    grid += [(f"euler-ode-{n}", "euler", {"num_steps": n, "probability_flow": True}) for n in args.ode_steps]
    grid += [(f"ddim-{n}", "ddim", {"num_steps": n, "time_grid": "logsnr"}) for n in args.ode_steps]
    grid += [(f"heun-{n}", "heun", {"num_steps": n}) for n in args.heun_steps]
    for order in (2, 3):
        grid += [(f"dpm++{order}M-{n}", "dpm", {"num_steps": n, "order": order}) for n in args.ode_steps]
    grid += [(f"pc-{n}", "pc", {"num_steps": n}) for n in args.pc_steps]
    return grid


def train(args, data):
    """The model of ``--config`` trained on ``data.train``: ``(predictor, seconds)``."""
    torch.manual_seed(0)
    estimator = DiffusionEstimator.from_config(
        args.config,
        dataset_path=args.dataset_path,
        freq=data.freq,
        prediction_length=data.prediction_length,
        num_batches_per_epoch=args.num_batches_per_epoch,
        predict_batch_size=414,
        calibration=None,  # every sampler of the same network, without a map fitted to one of them
        trainer_kwargs=quiet_trainer(args.epochs, "/tmp/bench_samplers", accelerator=args.accelerator),
    )
    return train_timed(estimator, data.train)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"))
    parser.add_argument("--dataset", default="m4_hourly")
    parser.add_argument("--dataset-path")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-batches-per-epoch", type=int, default=50)
    parser.add_argument("--num-series", type=int, default=100, help="test series scored (414 = all of m4_hourly)")
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--euler-steps", type=int, nargs="+", default=[5, 10, 20, 50, 100, 1000])
    parser.add_argument("--ode-steps", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--heun-steps", type=int, nargs="+", default=[3, 5, 10, 25])
    parser.add_argument("--pc-steps", type=int, nargs="+", default=[50])
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--predictor", help="a saved predictor to re-sample instead of training --config's")
    parser.add_argument("--output", help="write the rows as JSON here")
    args = parser.parse_args(argv)

    data = load_dataset(args.dataset, resolve_data_path(args.dataset_path))
    test = data.test[: args.num_series]
    if args.predictor:  # a saved model: no training here
        predictor, train_seconds = load_predictor(args.predictor), 0.0
        predictor.batch_size = 414
    else:
        predictor, train_seconds = train(args, data)
    print(
        f"trained on {data.name} in {train_seconds:.0f} s ({args.epochs} epochs x {args.num_batches_per_epoch} batches); "
        f"scoring {len(test)} series x {args.num_samples} samples on {predictor.device}"
    )

    rows = []
    print(f"| sampler | NFE | CRPS | MASE | {CALIBRATION_HEADER} | seconds |\n" + "|---" * 10 + "|")
    for label, name, kwargs in sampler_grid(args):
        variant = with_sampler(predictor, name, kwargs)
        metrics, _, _, seconds = score(variant, test, num_samples=args.num_samples, seed=0)
        row = {
            "sampler": label,
            "nfe": variant.prediction_net.model.sampler.nfe,
            "crps": metrics["mean_wQuantileLoss"],
            "mase": metrics["MASE"],
            **calibration_row(metrics),
            "seconds": seconds,
        }
        rows.append(row)
        cells = f"| {label} | {row['nfe']} | {row['crps']:.4f} | {row['mase']:.3f} | {calibration_cells(row)} |"
        print(f"{cells} {seconds:.1f} |", flush=True)
        if args.output:  # rewritten after every row, so an interrupted run keeps what it measured
            Path(args.output).write_text(json.dumps({"train_seconds": train_seconds, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
