"""Speed benchmark: prediction wall time of the baselines and of our predictors in one run (a script, not a test).

On one machine and one test split (default m4_hourly, all 414 series x 100 samples) it trains the GluonTS
baselines (``experiments.baselines.train_baseline``: SeasonalNaive, DeepAR, PatchTST, at ``--baseline-epochs``)
and a diffusion teacher from ``--config`` (one per ``--architectures`` entry; or ``--teacher``, a saved one),
re-samples each teacher with ``--variants`` (``with_sampler``), distills it progressively to ``--distill-steps``
network evaluations (``gluonts_diffusion.distill``; each student teaches the next, e.g. 32 -> 4 -> 2 -> 1; or
``--students``, saved ones), and times ``predictor.predict`` over every series, fully consumed, after one warm-up
batch. ``--calibrate`` adds a copy of each diffusion predictor with spread factors fitted on the last window of
the training series (``gluonts_diffusion.calibrate``; held out only if the teacher was trained without it, as a
``--teacher`` trained with ``training.validation``). Prints a Markdown table: NFE, wall seconds, series per
second, the ratio to DeepAR's wall time in the same run (meaningful on a busy machine), CRPS
(``mean_wQuantileLoss``) and the calibration columns. Nothing is chosen on the test split.

    python evaluation/bench_speed.py --dataset-path ../shared/datasets                       # CPU budget
    python evaluation/bench_speed.py --accelerator gpu --epochs 30                           # device machine
    python evaluation/bench_speed.py --num-series 4 --num-samples 8 --epochs 1 --num-batches-per-epoch 2 \\
        --baseline-epochs 1 --baselines seasonal_naive deepar --variants --distill-steps    # smoke run
    python evaluation/bench_speed.py --teacher DIR --students DIR4 DIR2 DIR1 --variants --distill-steps  # saved
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch
from common import (
    CALIBRATION_HEADER,
    QUICKSTART,
    calibration_cells,
    calibration_row,
    config_estimator,
    progressive_students,
    quiet_trainer,
    train_timed,
)

from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path
from gluonts_diffusion.data.validation import validation_split
from gluonts_diffusion.experiments.baselines import baseline_size, train_baseline
from gluonts_diffusion.experiments.scoring import score
from gluonts_diffusion.model.calibration import calibrate
from gluonts_diffusion.model.predictor import load_predictor
from gluonts_diffusion.model.resampling import with_sampler

#: ``--accelerator`` presets: device of our predictors, Lightning accelerator, prediction batch (series)
PRESETS: Dict[str, Dict[str, Any]] = {
    "cpu": {"device": "cpu", "trainer": "cpu", "predict_batch_size": None},  # None: each model's own default
    "gpu": {"device": "cuda", "trainer": "gpu", "predict_batch_size": 414},
}
REFERENCE = "deepar"


def parse_variant(text: str) -> Tuple[str, Dict[str, Any]]:
    """``"dpm:20"`` -> ``("dpm", {"num_steps": 20})``: a sampler name and its step count."""
    name, _, steps = text.partition(":")
    return name, ({"num_steps": int(steps)} if steps else {})


def timed_score(predictor, test, num_samples: int, warmup: int) -> Tuple[Dict[str, Any], float]:
    """``(metrics, seconds)``: ``score()``'s metrics and wall time of ``predictor.predict`` over ``test``
    (all series x ``num_samples``, every forecast consumed) after one warm-up batch of ``warmup`` series."""
    list(predictor.predict(test[: max(warmup, 1)], num_samples=num_samples))  # warm-up: first calls, allocator
    metrics, _, _, seconds = score(predictor, test, num_samples=num_samples, seed=0)
    return metrics, seconds


def speed_row(label: str, nfe, metrics: Dict[str, Any], seconds: float, num_series: int) -> Dict[str, Any]:
    return {
        "model": label,
        "nfe": nfe,
        "seconds": seconds,
        "series_per_second": num_series / max(seconds, 1e-12),
        "crps": metrics["mean_wQuantileLoss"],
        **calibration_row(metrics),
    }


def baseline_rows(args, data, test, root: str, rows: List[Dict[str, Any]]) -> None:
    """Appends (and prints) one row per ``--baselines`` entry, each trained on ``data.train`` at ``--baseline-epochs``."""
    preset = PRESETS[args.accelerator]
    trainer = quiet_trainer(args.baseline_epochs, root, accelerator=preset["trainer"], devices=1)
    for name in sorted(args.baselines, key=lambda n: n != REFERENCE):  # DeepAR first: the ratios need it
        predictor = train_baseline(
            name, data, trainer, batch_size=args.batch_size, num_batches_per_epoch=args.num_batches_per_epoch
        )
        if hasattr(predictor, "batch_size") and args.predict_batch_size:
            predictor.batch_size = args.predict_batch_size
        if hasattr(predictor, "to"):
            predictor = predictor.to(preset["device"])
        metrics, seconds = timed_score(predictor, test, args.num_samples, getattr(predictor, "batch_size", 1))
        nfe = baseline_size(name, predictor, data.prediction_length)[0]
        add_row(rows, speed_row(name, nfe, metrics, seconds, len(test)))


def teacher(args, data, architecture, root: str):
    """The diffusion predictor of ``--config`` (architecture overridden when given), trained and timed, or the
    saved one of ``--teacher``."""
    if args.teacher:
        return load_predictor(args.teacher, device=PRESETS[args.accelerator]["device"]), 0.0
    budget = {name: getattr(args, name) for name in ("batch_size", "num_batches_per_epoch", "predict_batch_size")}
    trainer = quiet_trainer(args.epochs, root, accelerator=PRESETS[args.accelerator]["trainer"], devices=1)
    torch.manual_seed(0)
    estimator = config_estimator(args.config, args.dataset_path, data, architecture, trainer_kwargs=trainer, **budget)
    predictor, seconds = train_timed(estimator, data.train)
    return predictor.to(PRESETS[args.accelerator]["device"]), seconds


def diffusion_variants(args, data, predictor, name: str):
    """``(label, predictor)``: the teacher, its ``--variants`` re-samplings and its ``--distill-steps`` students."""
    yield f"{name} {predictor.prediction_net.hparams['model_kwargs']['components']['sampler']['name']}", predictor
    for text in args.variants:
        sampler, kwargs = parse_variant(text)
        yield f"{name} {sampler}", with_sampler(predictor, sampler, kwargs)
    for path in args.students:
        yield f"{name} distilled", load_predictor(path, device=PRESETS[args.accelerator]["device"])
    students = progressive_students(
        predictor,
        data.train,
        args.distill_steps,
        epochs_per_stage=args.distill_epochs_per_stage,
        num_batches_per_epoch=args.num_batches_per_epoch,
        trainer_kwargs={"accelerator": PRESETS[args.accelerator]["trainer"], "devices": 1},
    )
    for _, student, _ in students:  # progressive: each student teaches the next
        yield f"{name} distilled", student.to(PRESETS[args.accelerator]["device"])


def diffusion_rows(args, data, test, root: str, rows: List[Dict[str, Any]]) -> None:
    """Appends (and prints) one row per teacher (per ``--architectures`` entry, else the config's own) and per
    variant of it."""
    windows = validation_split(list(data.train)[: args.num_series], data.prediction_length) if args.calibrate else None
    for architecture in args.architectures or [None]:
        predictor, train_seconds = teacher(args, data, architecture, f"{root}/{architecture}")
        name = architecture or predictor.prediction_net.hparams["model_kwargs"]["components"]["architecture"]["name"]
        print(f"<!-- {name} teacher trained in {train_seconds:.0f} s -->", flush=True)
        for label, variant in diffusion_variants(args, data, predictor, name):
            nfe = variant.prediction_net.model.sampler.nfe
            metrics, seconds = timed_score(variant, test, args.num_samples, variant.batch_size)
            add_row(rows, speed_row(label, nfe, metrics, seconds, len(test)))
            if windows is not None:  # spread factors fitted on the training series' last window, never on test
                calibrated = calibrate(variant, windows)
                metrics, seconds = timed_score(calibrated, test, args.num_samples, variant.batch_size)
                add_row(rows, speed_row(f"{label} + spread calibration", nfe, metrics, seconds, len(test)))


HEADER = f"| model | NFE | wall s | series/s | / DeepAR | CRPS | {CALIBRATION_HEADER} |\n" + "|---" * 11 + "|"


def add_row(rows: List[Dict[str, Any]], row: Dict[str, Any]) -> None:
    """Append ``row`` with ``ratio_to_deepar`` (its wall time / DeepAR's in this run, None before a DeepAR
    row: the baselines run first) and print it as a Markdown row."""
    reference = next((r["seconds"] for r in rows + [row] if r["model"] == REFERENCE), None)
    row["ratio_to_deepar"] = None if reference is None else row["seconds"] / reference
    rows.append(row)
    nfe = "-" if row["nfe"] is None else row["nfe"]
    ratio = "n/a" if row["ratio_to_deepar"] is None else f"{row['ratio_to_deepar']:.2f}"
    print(
        f"| {row['model']} | {nfe} | {row['seconds']:.2f} | {row['series_per_second']:.1f} | {ratio} | "
        f"{row['crps']:.4f} | {calibration_cells(row)} |",
        flush=True,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=QUICKSTART)
    p.add_argument("--dataset", default="m4_hourly")
    p.add_argument("--dataset-path")
    p.add_argument(
        "--num-series", type=int, default=414, help="first N series scored and calibrated (414: all m4_hourly)"
    )
    p.add_argument("--num-samples", type=int, default=100)
    p.add_argument("--epochs", type=int, default=30, help="teacher epochs")
    p.add_argument("--num-batches-per-epoch", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=64, help="training batch (teachers and baselines)")
    p.add_argument("--baseline-epochs", type=int, default=10)
    p.add_argument("--baselines", nargs="*", default=["seasonal_naive", "deepar", "patch_tst"])
    p.add_argument(
        "--architectures", nargs="*", default=[], help="one teacher per architecture (default: the config's)"
    )
    p.add_argument("--variants", nargs="*", default=["dpm:20"], help="with_sampler re-samplings, NAME:STEPS")
    p.add_argument("--distill-steps", type=int, nargs="*", default=[4, 2, 1], help="none: no distillation")
    p.add_argument("--distill-epochs-per-stage", type=int, default=5)
    p.add_argument(
        "--calibrate", action="store_true", help="also a spread-calibrated copy of every diffusion predictor"
    )
    p.add_argument("--teacher", help="a saved teacher (predictor.serialize) instead of training --config's")
    p.add_argument("--students", nargs="*", default=[], help="saved distilled predictors of the teacher, timed too")
    p.add_argument("--accelerator", choices=sorted(PRESETS), default="cpu")
    p.add_argument(
        "--predict-batch-size", type=int, help="series per prediction batch of every model (default: the preset's)"
    )
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    p.add_argument("--output", help="write the rows as JSON here")
    return p


def main(argv=None) -> List[Dict[str, Any]]:
    args = parser().parse_args(argv)
    args.predict_batch_size = args.predict_batch_size or PRESETS[args.accelerator]["predict_batch_size"]
    torch.set_num_threads(args.threads)
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", message=".*(val_dataloader|LeafSpec|num_workers).*")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    data = load_dataset(args.dataset, resolve_data_path(args.dataset_path))
    test = data.test[: args.num_series]
    print(
        f"{data.name}: {len(test)} series x {args.num_samples} samples, preset {args.accelerator} "
        f"(predict batch: {args.predict_batch_size or 'each models default'}), torch threads {torch.get_num_threads()}, "
        f"teacher {args.epochs} x {args.num_batches_per_epoch} batches, baselines {args.baseline_epochs} epochs"
    )
    print(HEADER)
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as root:
        baseline_rows(args, data, test, f"{root}/baselines", rows)
        diffusion_rows(args, data, test, f"{root}/diffusion", rows)
    if args.output:
        Path(args.output).write_text(json.dumps({"arguments": vars(args), "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
