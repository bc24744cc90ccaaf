"""Architecture benchmark: CRPS, training time and size of every architecture (a script, not a test).

For each dataset (default m4_hourly and exchange_rate_nips, univariate) trains one estimator per
architecture with ``raw`` preprocessing, plus the transformer with ``wavelet`` preprocessing, at the
CPU budget given by the flags, and scores it on the test split (CRPS = GluonTS's
``mean_wQuantileLoss``). Then the transformer on exchange_rate_nips grouped into one multivariate
target (``target_dim`` 8), scored by CRPS-sum (``m_sum_mean_wQuantileLoss``, the CRPS of the sum over
dimensions, as in TimeGrad / CSDI), each with its coverage, calibration error and sharpness. Prints a Markdown
table (rows appear as they finish).

    python evaluation/bench_architectures.py --dataset-path ../shared/datasets                  # CPU budget
    python evaluation/bench_architectures.py --epochs 1 --num-batches-per-epoch 2 --num-series 4 \\
        --num-samples 8 --sampler-steps 5 --model-size tiny                                     # smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import warnings
from pathlib import Path

import torch
from common import CALIBRATION_HEADER, calibration_cells, calibration_row, quiet_trainer, train_timed

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path
from gluonts_diffusion.experiments.scoring import score
from gluonts_diffusion.model.resampling import count_parameters

DEFAULT_ARCHITECTURES = ("transformer", "cnn", "rnn", "hybrid", "ensemble")

#: DiffusionEstimator arguments given by the flags of the same name
BUDGET_FLAGS = ("batch_size", "num_batches_per_epoch", "predict_batch_size", "gradient_checkpointing")

#: ``--model-size tiny``: parameters small enough for a smoke run
TINY = {
    "transformer": {"model_dim": 16, "num_heads": 2, "num_layers": 1},
    "cnn": {"residual_channels": 8, "num_layers": 2, "hidden_size": 8},
    "rnn": {"hidden_size": 8, "num_layers": 1},
    "hybrid": {"d_model": 8, "num_heads": 2, "num_conv_layers": 1, "num_attention_layers": 1},
}
TINY["ensemble"] = {
    "models": ["transformer", "cnn", "rnn"],
    "model_params": {k: TINY[k] for k in ("transformer", "cnn", "rnn")},
}


def experiments(args):
    """(dataset, multivariate, architecture, preprocessing) for every row of the table."""
    rows = []
    for dataset in args.datasets:
        for architecture in args.architectures:
            rows.append((dataset, False, architecture, "raw"))
            if architecture == "transformer" and "wavelet" not in args.skip:
                rows.append((dataset, False, "transformer", "wavelet"))
    if "multivariate" not in args.skip and args.multivariate_dataset:
        rows.append((args.multivariate_dataset, True, "transformer", "raw"))
    return rows


def run_one(args, data, architecture, preprocessing, multivariate):
    with tempfile.TemporaryDirectory(prefix="bench_architectures_") as work_dir:  # checkpoints of this run only
        return _run_one(args, data, architecture, preprocessing, multivariate, work_dir)


def _run_one(args, data, architecture, preprocessing, multivariate, work_dir):
    arch_kwargs = dict(TINY.get(architecture, {})) if args.model_size == "tiny" else {}
    torch.manual_seed(args.seed)
    estimator = DiffusionEstimator(
        freq=data.freq,
        prediction_length=data.prediction_length,
        context_length=args.context_multiple * data.prediction_length,
        preprocessing=preprocessing,
        architecture=architecture,
        architecture_kwargs=arch_kwargs,
        sampler_kwargs={"num_steps": args.sampler_steps},
        target_dim=data.target_dim,
        num_parallel_samples=args.num_samples,
        calibration=None,  # the architectures' own forecasts
        **{name: getattr(args, name) for name in BUDGET_FLAGS},
        trainer_kwargs=quiet_trainer(
            args.epochs,
            work_dir,
            enable_model_summary=False,
            accelerator=args.accelerator,
            **({"precision": args.precision} if args.precision else {}),
        ),
    )
    predictor, train_seconds = train_timed(estimator, data.train)
    test = data.test
    metrics, _, _, predict_seconds = score(
        predictor, test, num_samples=args.num_samples, seed=args.seed, target_dim=data.target_dim
    )
    return {
        "dataset": data.name,
        "target_dim": data.target_dim,
        "architecture": architecture,
        "preprocessing": preprocessing,
        "crps": metrics.get("mean_wQuantileLoss"),
        "crps_sum": metrics.get("m_sum_mean_wQuantileLoss"),
        **calibration_row(metrics),
        "train_seconds": train_seconds,
        "predict_seconds": predict_seconds,
        "parameters": count_parameters(predictor.prediction_net.model),
        "test_series": len(test),
    }


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["m4_hourly", "exchange_rate_nips"])
    parser.add_argument("--architectures", nargs="+", default=list(DEFAULT_ARCHITECTURES))
    parser.add_argument(
        "--multivariate-dataset",
        default="exchange_rate_nips",
        help="grouped into one multivariate target for the CRPS-sum row ('' to skip)",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["wavelet", "multivariate"],
        help="leave out the transformer+wavelet rows or the multivariate row",
    )
    parser.add_argument("--dataset-path")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-batches-per-epoch", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--num-series",
        type=int,
        default=100,
        help="univariate: train on the first N series and score their test windows",
    )
    parser.add_argument(
        "--test-windows",
        type=int,
        default=1,
        help="univariate: test entries kept per series (m4_hourly has 1, exchange_rate_nips 5)",
    )
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--sampler-steps", type=int, default=50, help="DDIM steps")
    parser.add_argument("--context-multiple", type=int, default=4, help="context_length = this x prediction_length")
    parser.add_argument("--predict-batch-size", type=int, default=128)
    parser.add_argument("--model-size", choices=["default", "tiny"], default="default")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--precision", help="Lightning precision, e.g. bf16-mixed")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*(val_dataloader|LeafSpec|num_workers).*")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    known = Registry.list("architecture")
    unknown = [a for a in args.architectures if a not in known]
    if unknown:
        parser.error(f"unknown architecture {unknown[0]!r}; known: {', '.join(known)}")

    path = resolve_data_path(args.dataset_path)
    cache = {}

    def data_for(name, multivariate):
        key = (name, multivariate)
        if key not in cache:
            if multivariate:
                cache[key] = load_dataset(name, path, multivariate=True)
            else:
                loaded = load_dataset(name, path, max_series=args.num_series)
                # test entries come window after window: keep the last `test_windows` windows of each series
                per_series = len(loaded.test) // max(len(loaded.train), 1)
                keep = min(args.test_windows, per_series)
                loaded.test = loaded.test[(per_series - keep) * len(loaded.train) :]
                cache[key] = loaded
        return cache[key]

    print(
        f"budget: {args.epochs} epochs x {args.num_batches_per_epoch} batches of {args.batch_size}, "
        f"{args.num_series} series, {args.num_samples} samples, ddim-{args.sampler_steps}, "
        f"model size {args.model_size}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"| dataset | dim | architecture | preprocessing | CRPS | CRPS-sum | {CALIBRATION_HEADER} | train s | predict s "
        "| parameters |"
    )
    print("|---" * 14 + "|")
    rows = []
    for dataset, multivariate, architecture, preprocessing in experiments(args):
        data = data_for(dataset, multivariate)
        row = run_one(args, data, architecture, preprocessing, multivariate)
        rows.append(row)
        print(
            f"| {row['dataset']} | {row['target_dim']} | {architecture} | {preprocessing} | {fmt(row['crps'], '.4f')} | "
            f"{fmt(row['crps_sum'], '.4f')} | {calibration_cells(row)} | {row['train_seconds']:.1f} | {row['predict_seconds']:.1f} | "
            f"{row['parameters']:,} |",
            flush=True,
        )
    if args.output:
        Path(args.output).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
