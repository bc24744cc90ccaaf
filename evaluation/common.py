"""What the benchmark scripts share: quiet Lightning settings, a timed training run and the calibration columns."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.experiments.scoring import CALIBRATION_METRICS, METRIC_BY_KEY

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")

#: Markdown header cells of the calibration columns (coverage 50/80/90%, calibration error, sharpness)
CALIBRATION_HEADER = " | ".join(METRIC_BY_KEY[key].header for key in CALIBRATION_METRICS)


def calibration_row(metrics: Mapping[str, Any]) -> Dict[str, Optional[float]]:
    """The calibration figures of a ``score()`` result, keyed as in ``scoring.METRICS``."""
    return {key: metrics.get(key) for key in CALIBRATION_METRICS}


def calibration_cells(row: Mapping[str, Any]) -> str:
    """The calibration columns of one Markdown row (``n/a`` where missing)."""
    return " | ".join("n/a" if row.get(key) is None else f"{row[key]:.3f}" for key in CALIBRATION_METRICS)


def quiet_trainer(epochs: int, root_dir: str, **extra: Any) -> Dict[str, Any]:
    """Lightning settings for ``epochs`` epochs writing under ``root_dir``: no progress bar, no logger."""
    return {"max_epochs": epochs, "enable_progress_bar": False, "logger": False, "default_root_dir": root_dir, **extra}


def train_timed(estimator, train, **train_kwargs: Any) -> Tuple[Any, float]:
    """``(predictor, seconds)``: ``estimator`` trained on ``train`` (``train_kwargs``: e.g. ``validation_data``),
    timed."""
    start = time.perf_counter()
    predictor = estimator.train(train, **train_kwargs)
    return predictor, time.perf_counter() - start


def config_estimator(config, dataset_path, data, architecture: Optional[str] = None, **overrides: Any):
    """The ``DiffusionEstimator`` of ``config`` for ``data``'s frequency and horizon; ``architecture``, when it
    is not the config's own, replaces it with its default parameters; ``overrides`` as ``from_config``. Not
    recalibrated unless ``overrides`` say so: the benchmarks measure the network's own forecasts."""
    sizes = dict(dataset_path=dataset_path, freq=data.freq, prediction_length=data.prediction_length)
    overrides.setdefault("calibration", None)
    estimator = DiffusionEstimator.from_config(config, **sizes, **overrides)
    if architecture is None or architecture == estimator.components["architecture"]["name"]:
        return estimator
    return DiffusionEstimator.from_config(
        config, **sizes, **overrides, architecture=architecture, architecture_kwargs={}
    )


def untrained_predictor(config, dataset_path, data, architecture: Optional[str] = None, **overrides: Any):
    """The predictor of :func:`config_estimator` with its initial weights (seed 0): timing needs no training."""
    estimator = config_estimator(config, dataset_path, data, architecture, **overrides)
    torch.manual_seed(0)
    return estimator.create_predictor(estimator.create_transformation(), estimator.create_lightning_module())


def timing_parser(doc: str, num_series: int) -> argparse.ArgumentParser:
    """The flags of the timing scripts of untrained predictors: config, data, architectures, sizes, threads."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--config", default=QUICKSTART)
    p.add_argument("--dataset-path")
    p.add_argument("--architectures", nargs="+", default=["transformer", "cnn"])
    p.add_argument("--num-series", type=int, default=num_series, help="first test series of m4_hourly")
    p.add_argument("--num-samples", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p


def progressive_students(predictor, train, steps, teacher_steps=None, **distill_kwargs):
    """Yields ``(K, student, seconds)`` for each K of ``steps``, largest first, each distilled from the one before
    (``gluonts_diffusion.distill``; the first from ``predictor`` with ``teacher_steps``)."""
    from gluonts_diffusion import distill

    student = predictor
    for k in sorted(steps, reverse=True):
        start = time.perf_counter()
        student = distill(student, train, num_steps=k, teacher_steps=teacher_steps, **distill_kwargs)
        yield k, student, time.perf_counter() - start
        teacher_steps = k
