"""What post-hoc spread calibration adds: one config trained with validation windows, its test scores with and without
the spread factors fitted on those windows (a script, not a test).

    python evaluation/posthoc_calibration.py --config configs/quickstart.yaml --epochs 5 --num-series 100

prints one row per predictor (uncalibrated, calibrated): CRPS (mean_wQuantileLoss), then coverage of the
50/80/90% intervals, calibration error and sharpness on the test split, and the fitted factors.
"""

from __future__ import annotations

import argparse
import tempfile

from common import CALIBRATION_HEADER, calibration_cells

from gluonts_diffusion.experiments.config import load_config
from gluonts_diffusion.experiments.runner import ExperimentRunner
from gluonts_diffusion.experiments.scoring import score
from gluonts_diffusion.model.predictor import DiffusionPredictor


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--dataset-path")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--num-series", type=int, default=100, help="test series scored (0: all)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    config["training"] = {**config["training"], "max_epochs": args.epochs, "validation": True, "calibration": "spread"}
    config["evaluation"] = {**config.get("evaluation", {}), "baselines": [], "num_series": args.num_series or None}
    config["logging"] = {"tensorboard": False}
    with tempfile.TemporaryDirectory() as out:
        runner = ExperimentRunner(config, dataset_path=args.dataset_path, output_dir=out)
        result = runner.run()  # scores the calibrated predictor on the test split
    calibrated, test = runner.experiment.predictor, runner.experiment.data.test
    raw = DiffusionPredictor.from_predictor(calibrated, output_transform=None)
    num_samples = int(config["evaluation"].get("num_samples", 100))
    raw_metrics = score(raw, test, num_samples, result.seed)[0]
    print(f"| predictor | CRPS | {CALIBRATION_HEADER} |")
    for name, metrics in (("uncalibrated", raw_metrics), ("spread-calibrated", result.metrics)):
        print(f"| {name} | {metrics['mean_wQuantileLoss']:.4f} | {calibration_cells(metrics)} |")
    fit = calibrated.calibration
    print("factors:", " ".join(f"{c:.2f}" for c in fit["factors"]))
    print({key: round(value, 4) for key, value in fit.items() if key.startswith("val_")})


if __name__ == "__main__":
    main()
