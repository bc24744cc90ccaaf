"""A teacher and its progressively distilled students, scored on validation windows only (a script, not a test).

Trains the model of ``--config`` on the training series without their last window (``data.validation``; the
config's own validation setting is what selects the checkpoint), saves it, distills it to ``--steps`` (each
student teaching the next: 32 -> 4 -> 2 -> 1 by default) with ``gluonts_diffusion.distill``, saves every student,
and prints CRPS and coverage of each on the held-out windows. The test split is not read: time and score the
saved predictors on it once with ``bench_speed.py --teacher OUT/teacher --students OUT/student4 ...``.

    python evaluation/distill_students.py --config configs/calibration/m4_hourly_edm_dpm.yaml \\
        --dataset-path ../shared/datasets --output runs/m4_hourly_edm
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from common import progressive_students, quiet_trainer

from gluonts_diffusion import DiffusionEstimator, load_predictor
from gluonts_diffusion.data.validation import validation_split
from gluonts_diffusion.distill import config_dataset
from gluonts_diffusion.experiments.scoring import score
from gluonts_diffusion.model.config import validate_model_config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--dataset-path")
    parser.add_argument("--output", type=Path, required=True, help="folder for teacher/, student<K>/, rows.json")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 2, 1], help="students, largest first")
    parser.add_argument("--teacher-steps", type=int, default=32, help="DDIM steps of the first teacher")
    parser.add_argument("--epochs-per-stage", type=int, default=5)
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args(argv)

    config = validate_model_config(args.config)
    data = config_dataset(args.config, args.dataset_path)
    split = validation_split(data.train, data.prediction_length)
    args.output.mkdir(parents=True, exist_ok=True)
    root = tempfile.mkdtemp(prefix="distill_students_")
    if (args.output / "teacher").exists():  # a rerun continues from the saved teacher
        teacher = load_predictor(args.output / "teacher")
    else:
        torch.manual_seed(int(config["experiment"].get("seed", 0)))
        epochs = int(config["training"]["max_epochs"])
        estimator = DiffusionEstimator.from_config(  # uncalibrated, as its students (with_sampler drops a map)
            config,
            args.dataset_path,
            trainer_kwargs=quiet_trainer(epochs, root, enable_model_summary=False),
            calibration=None,
        )
        teacher = estimator.train(split.train, validation_data=split.validation)
        teacher.serialize(args.output / "teacher")
    rows = {}

    def report(name, predictor, seconds=0.0):
        metrics = score(predictor, split.validation, num_samples=args.num_samples)[0]
        keys = ("mean_wQuantileLoss", "coverage_50", "coverage_90", "calibration_error")
        rows[name] = {**{key: metrics[key] for key in keys}, "distill_seconds": seconds}
        print(name, json.dumps(rows[name]), flush=True)
        (args.output / "rows.json").write_text(json.dumps(rows, indent=1))

    report("teacher", teacher)
    students = progressive_students(
        teacher,
        split.train,
        args.steps,
        args.teacher_steps,
        epochs_per_stage=args.epochs_per_stage,
        trainer_kwargs={"default_root_dir": root},
    )
    for steps, student, seconds in students:
        student.serialize(args.output / f"student{steps}")
        report(f"student{steps}", student, seconds)


if __name__ == "__main__":
    main()
