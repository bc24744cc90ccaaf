"""What post-hoc calibration adds: one config trained with validation windows (or a run's saved predictor), scored
uncalibrated and with each calibration fitted on those validation windows only (a script, not a test).

    python evaluation/posthoc_calibration.py --config configs/quickstart.yaml --epochs 5 --num-series 100
    python evaluation/posthoc_calibration.py --config configs/quickstart.yaml --dataset-path ../shared/datasets \\
        --predictor experiments/runs/quickstart/<timestamp>/predictor --methods spread quantile quantile:2
    python evaluation/posthoc_calibration.py --dataset-path ../shared/datasets --num-series 0 \
        --set data.dataset=exchange_rate_nips --set data.prediction_length=30 --set experiment.seed=1

A method is ``spread`` or ``quantile``, ``:N`` sets its ``pool`` (steps on each side fitted together; the
default pools 2 for spread, all steps for quantile). Prints two Markdown tables. Validation: each calibration
cross-fitted on the validation windows (fitted on the windows of the even series and read on the odd ones, and the
other way round), fair sample CRPS in units of each window's mean |history|, coverage of the 50/80/90% intervals and
calibration error. Test (read once): CRPS (mean_wQuantileLoss) and the calibration columns of every predictor,
its calibration fitted on all validation windows. ``--output`` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import yaml
from common import CALIBRATION_HEADER, QUICKSTART, calibration_cells

from gluonts_diffusion import load_predictor
from gluonts_diffusion.experiments.config import load_config
from gluonts_diffusion.experiments.forecast import load_experiment_data
from gluonts_diffusion.experiments.runner import ExperimentRunner
from gluonts_diffusion.experiments.scoring import score
from gluonts_diffusion.experiments.validation import holdout
from gluonts_diffusion.model.calibration import fit_summary, fit_transform, forecast_windows
from gluonts_diffusion.model.predictor import DiffusionPredictor


def parse_method(text: str) -> Tuple[str, Optional[int]]:
    """``"quantile:2"`` -> ``("quantile", 2)``; ``"spread"`` -> ``("spread", None)``."""
    name, _, pool = text.partition(":")
    return name, int(pool) if pool else None


def trained(config: Dict[str, Any], args) -> Tuple[DiffusionPredictor, Any, Any]:
    """``(uncalibrated predictor, data, validation split)``: the saved ``--predictor`` of a run of ``config``, or
    ``config`` trained here with validation windows."""
    if args.predictor:
        data = load_experiment_data(config, Path(args.dataset_path) if args.dataset_path else None)
        return load_predictor(args.predictor), data, holdout(config, data)
    with tempfile.TemporaryDirectory() as out:
        runner = ExperimentRunner(config, dataset_path=args.dataset_path, output_dir=out)
        runner.run()
    experiment = runner.experiment
    return experiment.predictor, experiment.data, experiment.validation


def cross_fitted(
    samples: np.ndarray, truth: np.ndarray, origin: np.ndarray, method: str, pool: Optional[int]
) -> Dict[str, float]:
    """Validation figures of ``method`` fitted on the windows of the even series (``origin``: each window's series)
    and read on the odd ones, and the other way round."""
    held, moved, truths = [], [], []
    even = origin % 2 == 0
    for fit_rows, read_rows in ((even, ~even), (~even, even)):
        transform = fit_transform(samples[fit_rows], truth[fit_rows], method, pool)  # type: ignore[arg-type]
        held.append(samples[read_rows])
        moved.append(transform(None, samples[read_rows]))
        truths.append(truth[read_rows])
    return fit_summary(np.concatenate(held), np.concatenate(truths), np.concatenate(moved))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=QUICKSTART)
    parser.add_argument("--dataset-path")
    parser.add_argument("--predictor", help="a run's saved predictor (trained with training.validation)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the config's)")
    parser.add_argument("--num-series", type=int, default=100, help="test series scored (0: all)")
    parser.add_argument("--methods", nargs="+", default=["spread", "quantile"])
    parser.add_argument("--output", help="JSON file for the figures")
    parser.add_argument("--set", action="append", default=[], help="SECTION.KEY=YAML_VALUE config override")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    for item in args.set:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        config[section] = {**(config.get(section) or {}), name: yaml.safe_load(value)}
    epochs = {"max_epochs": args.epochs} if args.epochs else {}
    windows = config["training"].get("validation") or True  # (a number of windows per series is kept)
    config["training"] = {**config["training"], **epochs, "validation": windows, "calibration": False}
    config["evaluation"] = {**config.get("evaluation", {}), "baselines": [], "num_series": args.num_series or None}
    config["logging"] = {"tensorboard": False}
    raw, data, split = trained(config, args)
    seed, num_samples = int(config["experiment"].get("seed", 0)), int(config["evaluation"].get("num_samples", 100))
    samples, truth = forecast_windows(raw, split.validation, num_samples, seed)
    rows: Dict[str, Dict[str, Any]] = {"uncalibrated": {"test": score(raw, data.test, num_samples, seed)[0]}}
    for text in args.methods:
        method, pool = parse_method(text)
        transform = fit_transform(samples, truth, method, pool, windows=len(split.validation))  # type: ignore[arg-type]
        calibrated = DiffusionPredictor.from_predictor(raw, output_transform=transform)
        val = cross_fitted(samples, truth, np.asarray(split.origin), method, pool)
        rows["uncalibrated"]["val"] = {key[:-7]: v for key, v in val.items() if key.endswith("_before")}
        rows[text] = {"val": {key[:-6]: v for key, v in val.items() if key.endswith("_after")}}
        rows[text]["test"] = score(calibrated, data.test, num_samples, seed)[0]
        rows[text]["fit"] = transform.describe()
    report(rows, len(split.validation), len(data.test))
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(rows, handle, indent=1)


def report(rows: Dict[str, Dict[str, Any]], windows: int, series: int) -> None:
    """The validation (cross-fitted) and test tables, as Markdown."""
    print(f"\nValidation ({windows} windows; calibrations cross-fitted on halves of them)\n")
    print("| predictor | val sample CRPS | cov 50% | cov 80% | cov 90% | calib err |\n|---|---|---|---|---|---|")
    for name, row in rows.items():
        val = row.get("val", {})
        cells = [val.get(k) for k in ("val_crps", "val_coverage_50", "val_coverage_80", "val_coverage_90")]
        cells.append(val.get("val_calibration_error"))
        print(f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.4f}" for c in cells) + " |")
    print(f"\nTest ({series} series)\n")
    print(f"| predictor | CRPS | {CALIBRATION_HEADER} |\n|---|---|{'---|' * CALIBRATION_HEADER.count('|')}---|")
    for name, row in rows.items():
        print(f"| {name} | {row['test']['mean_wQuantileLoss']:.4f} | {calibration_cells(row['test'])} |")


if __name__ == "__main__":
    main()
