"""Validation windows in an experiment: the split ``training.validation`` asks for, its ``val_`` metrics, and the
record of which split chose what.

With ``training.validation`` set, the last window(s) of every training series are held out
(:func:`gluonts_diffusion.data.validation.validation_split`), the model trains on what precedes, and the windows
are the ``validation_data`` of training: Lightning's best checkpoint, the ReduceLROnPlateau schedule and an
ensemble's learned weights follow ``val_loss``. After training the windows are forecast (from the training data
only) and scored by the one ``score()``, reported with the :data:`VAL_PREFIX` (``val_mean_wQuantileLoss``,
``val_coverage_90``, ...). ``evaluation.test: false`` (search trials) leaves the test split unread.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from gluonts_diffusion.data.datasets import ForecastData
from gluonts_diffusion.data.validation import ValidationSplit, validation_split
from gluonts_diffusion.model.config import validation_windows

from .config import calibration_method
from .scoring import VAL_PREFIX, score

logger = logging.getLogger(__name__)


def scores_test(config: Mapping[str, Any]) -> bool:
    """Whether a run reads and scores the test split (``evaluation.test``, default true)."""
    value = (config.get("evaluation") or {}).get("test")
    return True if value is None else bool(value)


def with_validation(config: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` with ``training.validation`` on (1 window unless it asks for more), e.g. for
    ``compare --select-on validation``."""
    if not validation_windows(config):
        config["training"] = {**(config.get("training") or {}), "validation": True}
    return config


def on_validation_only(config: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` made to choose on validation only (a search trial): :func:`with_validation`,
    ``evaluation.test: false`` (the test split is not even read) and no baselines."""
    config = with_validation(config)
    config["evaluation"] = {**(config.get("evaluation") or {}), "test": False, "baselines": []}
    return config


def holdout(config: Mapping[str, Any], data: ForecastData) -> Optional[ValidationSplit]:
    """The validation split of ``data.train`` that ``training.validation`` asks for (None when it is off, or when
    no series is long enough to give up a window: the run then trains on everything, warning once)."""
    windows = validation_windows(config)
    split = validation_split(data.train, data.prediction_length, windows) if windows else None
    if split is not None and not split.validation:
        logger.warning(
            "training.validation: no training series of %s can give up a window of %d steps and keep one training "
            "window; training without validation",
            data.name,
            data.prediction_length,
        )
        return None
    return split


def validation_entries(split: ValidationSplit, num_series: Optional[int]) -> list:
    """The windows scored for the ``val_`` metrics: all of them, or those of the first ``num_series`` series
    (``evaluation.num_series`` limits the validation scoring as it limits the test's)."""
    if not num_series:
        return split.validation
    return [entry for entry, index in zip(split.validation, split.origin) if index < int(num_series)]


def score_validation(
    predictor, split: ValidationSplit, num_samples: int, seed: int, target_dim: int, num_series: Optional[int]
) -> Tuple[Dict[str, float], list, list, float, int]:
    """Forecast and score the validation windows: ``(val_ metrics, forecasts, series, seconds, windows)``."""
    entries = validation_entries(split, num_series)
    if not entries:
        return {}, [], [], 0.0, 0
    metrics, forecasts, series, seconds = score(predictor, entries, num_samples, seed, target_dim, desc="validation")
    return {f"{VAL_PREFIX}{key}": value for key, value in metrics.items()}, forecasts, series, seconds, len(entries)


def calibrated(predictor, config: Mapping[str, Any], split: Optional[ValidationSplit], seed: int):
    """``predictor`` with the post-hoc calibration ``training.calibration`` asks for, fitted on the validation
    windows (:func:`gluonts_diffusion.model.calibration.calibrate`); unchanged when it asks for none."""
    method = calibration_method(config)
    if method is None or split is None:
        return predictor
    from gluonts_diffusion.model.calibration import calibrate

    num_samples = int((config.get("evaluation") or {}).get("num_samples", 100))
    predictor = calibrate(predictor, split, method=method, num_samples=num_samples, seed=seed)
    logger.info("calibration (%s) fitted on %d validation windows", method, predictor.calibration["windows"])
    return predictor


def choices(split: Optional[ValidationSplit], test: bool, calibration: Optional[str] = None) -> Dict[str, Any]:
    """Which split chose what in a run (written to ``metrics.json`` as ``splits``)."""
    chooser = "validation windows (val_loss)" if split is not None else "training batches (train_loss)"
    out: Dict[str, Any] = {
        "checkpoint": chooser,
        "lr_schedule": chooser,
        "ensemble_weights": chooser,
        "val_metrics": "validation windows, forecast from the training data" if split is not None else None,
        "metrics": "test split" if test else None,
    }
    if calibration is not None and split is not None:
        out["calibration"] = f"{calibration}, fitted on the validation windows (the val_ metrics are in-sample for it)"
    if split is not None:
        out["validation"] = split.summary()
    return out


def kept_checkpoint(trainer: Any) -> Dict[str, Any]:
    """The epoch of the checkpoint Lightning kept (the best by the monitored loss; None when none was saved) and the
    epochs trained: a kept epoch far below the last says the monitored loss stopped improving early."""
    path = getattr(getattr(trainer, "checkpoint_callback", None), "best_model_path", "") or ""
    match = re.search(r"epoch=(\d+)", Path(path).name)
    return {"checkpoint_epoch": int(match.group(1)) if match else None, "epochs_trained": int(trainer.current_epoch)}
