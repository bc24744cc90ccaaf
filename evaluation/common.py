"""What the benchmark scripts share: quiet Lightning settings, a timed training run and the calibration columns."""

from __future__ import annotations

import time
from typing import Any, Dict, Mapping, Optional, Tuple

from gluonts_diffusion.experiments.scoring import CALIBRATION_METRICS, METRIC_BY_KEY

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


def train_timed(estimator, train) -> Tuple[Any, float]:
    """``(predictor, seconds)``: ``estimator`` trained on ``train``, timed."""
    start = time.perf_counter()
    predictor = estimator.train(train)
    return predictor, time.perf_counter() - start
