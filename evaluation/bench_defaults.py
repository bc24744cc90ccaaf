"""Defaults benchmark: the default ``DiffusionEstimator`` against SeasonalNaive on every dataset (a script, not a test).

For every dataset in ``--dataset-path`` that ``load_dataset`` knows, plus ``synthetic_intermittent``: trains the
DEFAULT estimator (no component arguments; ``--scaling`` and ``--clip-x0`` change one thing at a time), scores it
and SeasonalNaive with ``experiments.scoring.score`` on the same windows, and prints a Markdown table: CRPS
(mean_wQuantileLoss), 50% / 90% coverage, the CRPS ratio to SeasonalNaive, and the fraction of forecasts whose
median leaves ``[min - range, max + range]`` of the series' own history. ``--select-on validation`` trains on the
training series without their last window (``--validation-windows N``: their last N windows) and scores those
windows (``data.validation``), never reading the test split: for choosing defaults honestly. ``--per-window`` adds
each scored window's own CRPS and coverage (model and SeasonalNaive) to the row, for sets with few windows (one
bitcoin_daily series: five). ``--output`` writes the rows as JSON. The default estimator recalibrates on held-out
windows (``calibration="auto"``, since 0.5.0); ``--set calibration=null`` trains it without.

    python evaluation/bench_defaults.py --dataset-path ../shared/datasets                     # 20 epochs
    python evaluation/bench_defaults.py --select-on validation --scaling mean --clip-x0 1.0 --output v.json
    python evaluation/bench_defaults.py --select-on validation --set sampler=dpm \\
        --set 'objective_kwargs={"parameterization": "edm"}'
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from common import quiet_trainer, train_timed
from lightning.pytorch import seed_everything

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.data.datasets import ForecastData, load_dataset
from gluonts_diffusion.data.synthetic import SYNTHETIC_DATASETS
from gluonts_diffusion.data.validation import validation_split
from gluonts_diffusion.experiments.baselines import train_baseline
from gluonts_diffusion.experiments.scoring import QUANTILES, calibration, score


def dataset_names(path: Path) -> List[str]:
    """Folders of ``path`` in GluonTS's on-disk layout, then the synthetic datasets."""
    found = sorted(p.name for p in path.iterdir() if (p / "metadata.json").exists()) if path.exists() else []
    return [*found, *SYNTHETIC_DATASETS]


def median_outside(forecasts: Sequence[Any], entries: Sequence[dict], prediction_length: int) -> float:
    """Fraction of forecasts whose median leaves ``[min - r, max + r]`` (``r = max - min``) of the entry's history
    (its target before the forecast window, observed values only) at any step."""
    outside = 0
    for forecast, entry in zip(forecasts, entries):
        history = np.asarray(entry["target"], dtype=np.float64)[:-prediction_length]
        history = history[np.isfinite(history)]
        if not history.size:
            continue
        low, high = history.min(), history.max()
        median = forecast.quantile(0.5)
        outside += bool(((median < low - (high - low)) | (median > high + (high - low))).any())
    return outside / max(len(forecasts), 1)


def estimator_argument(text: str) -> tuple:
    """``NAME=JSON`` -> ``(NAME, value)`` (a bare word that is not JSON is taken as a string)."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=JSON, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


COVERAGES = ("coverage_50", "coverage_90")


def window_scores(forecasts: Sequence[Any], series: Sequence[Any]) -> List[Dict[str, float]]:
    """CRPS (``mean_wQuantileLoss`` of the window alone: its quantile losses over its own sum of |target|, from
    GluonTS's per-item metrics) and 50% / 90% coverage of each forecast window."""
    from gluonts.evaluation import Evaluator

    _, items = Evaluator(quantiles=QUANTILES, num_workers=0)(series, forecasts, num_series=len(series))
    losses = items[[f"QuantileLoss[{q}]" for q in QUANTILES]].mean(axis=1) / items["abs_target_sum"]
    scores = []
    for loss, forecast, truth in zip(losses, forecasts, series):
        covered = calibration([forecast], [truth])
        scores.append({"crps": float(loss), **{k: covered[k] for k in COVERAGES}})
    return scores


def evaluate(predictor, entries: Sequence[dict], args, prediction_length: int) -> Dict[str, Any]:
    metrics, forecasts, series, _ = score(predictor, entries, num_samples=args.num_samples, seed=args.seed)
    scores: Dict[str, Any] = {
        "crps": metrics["mean_wQuantileLoss"],
        **{key: metrics[key] for key in COVERAGES},
        "median_outside": median_outside(forecasts, entries, prediction_length),
    }
    if args.per_window:
        scores["windows"] = window_scores(forecasts, series)
    return scores


def run_dataset(name: str, args) -> Dict[str, Any]:
    """Train the default estimator on ``name`` and score it and SeasonalNaive on the chosen split."""
    data = load_dataset(name, args.dataset_path, max_series=args.max_series, with_test=args.select_on == "test")
    train, entries = data.train, data.test
    if args.select_on == "validation":
        split = validation_split(data.train, data.prediction_length, windows=args.validation_windows)
        train, entries = split.train, split.validation
    options: Dict[str, Any] = {}
    if args.scaling is not None:
        options["preprocessing_kwargs"] = {"scaling": args.scaling}
    if args.clip_x0 is not None:
        options["clip_x0"] = args.clip_x0
    if args.num_batches_per_epoch is not None:
        options["num_batches_per_epoch"] = args.num_batches_per_epoch
    options.update(args.set)
    seed_everything(args.seed, verbose=False)  # torch, numpy (GluonTS's instance samplers) and random
    with tempfile.TemporaryDirectory() as root:
        estimator = DiffusionEstimator(
            freq=data.freq,
            prediction_length=data.prediction_length,
            trainer_kwargs=quiet_trainer(args.epochs, root, enable_model_summary=False, accelerator=args.accelerator),
            **options,
        )
        predictor, seconds = train_timed(estimator, train)
    model = evaluate(predictor, entries, args, data.prediction_length)
    naive_data = ForecastData(data.name, train, entries, data.freq, data.prediction_length)
    naive = evaluate(train_baseline("seasonal_naive", naive_data), entries, args, data.prediction_length)
    return {
        "dataset": name,
        "split": args.select_on,
        "series": len(entries),
        **model,
        "seasonal_naive": naive,
        "crps_ratio": model["crps"] / naive["crps"] if naive["crps"] else None,
        "train_seconds": seconds,
        "options": {key: value for key, value in options.items()},
    }


def table(rows: Sequence[Dict[str, Any]]) -> str:
    lines = [
        "| dataset | split | CRPS | SeasonalNaive | ratio | 50% / 90% coverage | SN 50% / 90% | median outside |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sn = r["seasonal_naive"]
        ratio = "n/a" if r["crps_ratio"] is None else f"{r['crps_ratio']:.2f}"
        lines.append(
            f"| {r['dataset']} | {r['split']} | {r['crps']:.4f} | {sn['crps']:.4f} | {ratio} | "
            f"{r['coverage_50']:.2f} / {r['coverage_90']:.2f} | {sn['coverage_50']:.2f} / {sn['coverage_90']:.2f} | "
            f"{r['median_outside']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset-path", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    parser.add_argument("--datasets", nargs="+", help="default: every dataset in --dataset-path, plus the synthetic")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--num-batches-per-epoch", type=int, help="default: the estimator's")
    parser.add_argument("--scaling", choices=["std", "mean", "none"], help="default: the estimator's")
    parser.add_argument("--clip-x0", type=float, help="default: the estimator's (off)")
    parser.add_argument(
        "--set",
        type=estimator_argument,
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='another DiffusionEstimator argument, e.g. sampler="dpm" or objective_kwargs={"parameterization": "edm"}',
    )
    parser.add_argument("--select-on", choices=["test", "validation"], default="test")
    parser.add_argument(
        "--validation-windows",
        type=int,
        default=1,
        help="with --select-on validation: the last N windows of each training series are held out and scored",
    )
    parser.add_argument("--per-window", action="store_true", help="add each window's CRPS and coverage to the rows")
    parser.add_argument("--max-series", type=int, help="only the first N series of each dataset (smoke runs)")
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--output", type=Path, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    args.set = dict(args.set)
    rows: List[Dict[str, Any]] = []
    for name in args.datasets or dataset_names(args.dataset_path):
        rows.append(run_dataset(name, args))
        if args.output:  # after every dataset: a later failure keeps the rows before it
            args.output.write_text(json.dumps(rows, indent=2))
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
