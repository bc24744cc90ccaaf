"""``python -m gluonts_diffusion.run --config FILE [--dataset-path DIR] [--debug] [--validate-only] [--resume RUN_DIR]``.

Trains the configured estimator, backtests it on the dataset's test split beside the GluonTS
baselines, prints the metric table and writes ``experiments/runs/<name>/<timestamp>/``.

A bad config, dataset or series ends the command with one line on stderr (exit status 2 for the config, 1 for
the data); ``--resume RUN_DIR`` continues an interrupted run from the last checkpoint in its folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gluonts_diffusion.run", description=__doc__.split("\n\n")[1])
    parser.add_argument("--config", required=True, help="experiment YAML file")
    parser.add_argument("--dataset-path", help="folder of datasets in GluonTS's on-disk layout")
    parser.add_argument("--output-dir", help="where runs/<name>/<timestamp>/ is written (default experiments/runs)")
    parser.add_argument("--debug", action="store_true", help="fast smoke pass; prints the resolved components")
    parser.add_argument("--validate-only", action="store_true", help="check the config and exit")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the interrupted run in RUN_DIR from its last checkpoint"
    )
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from gluonts_diffusion.data.checks import DataError
    from gluonts_diffusion.experiments.config import ConfigError, check_config_dataset, validate_config
    from gluonts_diffusion.experiments.runner import ExperimentRunner

    try:  # the config is validated once: here with --validate-only, else by the experiment the runner builds
        if args.validate_only:
            check_config_dataset(validate_config(args.config), args.dataset_path)
            print(f"{args.config}: valid")
            return 0
        resume = {"run_dir": args.resume, "resume": True} if args.resume else {}
        runner = ExperimentRunner.from_config(
            args.config, dataset_path=args.dataset_path, output_dir=args.output_dir, debug=args.debug, **resume
        )
    except ConfigError as err:
        print(f"invalid config {args.config}: {err}", file=sys.stderr)
        return 2
    try:
        result = runner.run()
    except (DataError, ConnectionError, FileNotFoundError, FloatingPointError) as err:
        print(f"run failed: {err}", file=sys.stderr)
        return 1
    if result.rank != 0:  # another process of a distributed run: rank 0 reports
        return 0
    print()
    print(
        f"{result.name} on {result.dataset}: {result.num_series} series x {result.num_samples} samples, "
        f"train {result.train_seconds:.1f} s, predict {result.predict_seconds:.1f} s, "
        f"{result.nfe} network evaluations per path, {result.num_parameters} parameters"
    )
    print(result.table())
    print(f"run folder: {result.run_dir}")
    if args.debug:
        print(
            json.dumps({k: result.metrics[k] for k in sorted(result.metrics) if not k.startswith("Coverage")}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
