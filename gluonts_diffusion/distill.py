"""``python -m gluonts_diffusion.distill --model DIR --config FILE --steps K --output DIR2 [options]``.

Distils a saved predictor into one that samples in K network evaluations (progressive distillation, Salimans &
Ho, 2022), on the training split of the dataset the config names (``data``, as ``gluonts_diffusion.run`` reads
it), and saves it to DIR2. A missing model, a bad config or a bad step count ends the command with one line on
stderr (exit status 1; 2 for a bad config or bad arguments).

The module is also callable: ``gluonts_diffusion.distill(predictor, data, num_steps=K)`` is
:func:`gluonts_diffusion.model.distillation.distill`, whether or not this module has been imported (importing
it binds the package attribute ``distill`` to the module).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from gluonts_diffusion.cli import callable_as

callable_as(__name__, "gluonts_diffusion.model.distillation:distill")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gluonts_diffusion.distill", description=__doc__.split("\n\n")[1])
    parser.add_argument("--model", required=True, help="folder of a saved predictor (predictor.serialize(path))")
    parser.add_argument("--config", required=True, help="experiment YAML naming the dataset (its data section)")
    parser.add_argument("--steps", type=int, required=True, help="K: network evaluations of the distilled sampler")
    parser.add_argument("--output", required=True, help="folder to save the distilled predictor in")
    parser.add_argument("--dataset-path", help="folder of datasets in GluonTS's on-disk layout")
    parser.add_argument("--teacher-steps", type=int, help="N = K * 2^m: the first teacher's DDIM steps")
    parser.add_argument("--epochs-per-stage", type=int, default=5, help="epochs of each halving (default 5)")
    parser.add_argument("--batches-per-epoch", type=int, default=50, help="batches per epoch (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the distillation (default 0)")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for flag, value in (
        ("--steps", args.steps),
        ("--epochs-per-stage", args.epochs_per_stage),
        ("--batches-per-epoch", args.batches_per_epoch),
    ):
        if value < 1:
            parser.error(f"{flag} must be >= 1, got {value}")


def training_split(config_path: str, dataset_path: Optional[str]):
    """The training series of the dataset ``config_path`` names (:func:`config_dataset`)."""
    return config_dataset(config_path, dataset_path).train


def config_dataset(config_path: str, dataset_path: Optional[str]):
    """The dataset ``config_path`` names (``data.dataset``, ``prediction_length``, ``multivariate``,
    ``max_series``), without its test split."""
    from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path
    from gluonts_diffusion.experiments.config import validate_config
    from gluonts_diffusion.model.config import config_value

    config = validate_config(config_path)
    data = config.get("data") or {}
    return load_dataset(
        data["dataset"],
        resolve_data_path(dataset_path, data.get("path")),
        prediction_length=config_value(config, "data", "prediction_length"),
        multivariate=bool(data.get("multivariate", False)),
        max_series=data.get("max_series"),
        with_test=False,
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    from gluonts_diffusion.data.checks import DataError
    from gluonts_diffusion.experiments.config import ConfigError
    from gluonts_diffusion.model.distillation import distill, first_teacher_steps
    from gluonts_diffusion.model.predictor import SavedPredictorError, load_predictor

    try:
        predictor = load_predictor(args.model)
        teacher_steps = first_teacher_steps(predictor, args.steps, args.teacher_steps)  # before loading data
        train = training_split(args.config, args.dataset_path)
        distilled = distill(
            predictor,
            train,
            args.steps,
            teacher_steps=teacher_steps,
            epochs_per_stage=args.epochs_per_stage,
            num_batches_per_epoch=args.batches_per_epoch,
            seed=args.seed,
        )
    except ConfigError as err:
        print(f"invalid config {args.config}: {err}", file=sys.stderr)
        return 2
    except (SavedPredictorError, FileNotFoundError, ValueError, DataError, FloatingPointError) as err:
        print(f"distill failed: {err}", file=sys.stderr)
        return 1
    distilled.serialize(args.output)
    print(f"distilled {args.model} ({teacher_steps}-step DDIM teacher) to {args.steps} steps: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
