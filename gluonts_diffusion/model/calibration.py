"""Post-hoc calibration fitted on validation windows: per-horizon spread factors around the sample median
(``method="spread"``, here) or a monotone map of the quantile levels (``method="quantile"``, PIT recalibration:
:mod:`.quantile_calibration`, whose :class:`QuantileCalibration` rides in the predictor the same way).

:func:`calibrate` forecasts the validation windows (the last window(s) of each *training* series, carved by
:func:`gluonts_diffusion.data.validation.validation_split`; never the test split) and fits one factor ``c_h`` per
forecast step, so that the sample paths rescaled around their per-step median, ``y' = med + c_h (y - med)``,
minimise the fair sample CRPS (Ferro 2014) of the validation windows, each window in units of the mean absolute
value of its own history. The minimiser is exact: for fixed samples the CRPS is convex and piecewise linear in
``c``, so ``c_h`` is a weighted quantile of the breakpoints ``(y - med) / (x_i - med)``. Steps are pooled with
their ``pool`` neighbours on each side (a running window over the horizon) so that one noisy step does not get
its own factor; factors are clipped to ``[1/20, 20]``.

The factors ride in the predictor as its GluonTS ``output_transform`` (:class:`SpreadCalibration`), so they are
saved in ``predictor.json``, applied to every batch of sample paths at prediction (forecasts stay
``SampleForecast``), and ``predictor.calibration`` describes them.

    split = validation_split(train, prediction_length)
    predictor = estimator.train(split.train, validation_data=split.validation)
    calibrated = calibrate(predictor, split)
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from gluonts.core.component import validated

from gluonts_diffusion.data.validation import ValidationSplit, validation_split

from .predictor import DiffusionPredictor
from .quantile_calibration import QuantileCalibration, fit_quantile_map

logger = logging.getLogger(__name__)

METHODS: Tuple[str, ...] = ("spread", "quantile")
#: the estimator's default ``calibration``: :data:`AUTO_METHOD`, fitted on one held-out window of each training
#: series (or on the validation data given), when the windows come from at least :data:`AUTO_MIN_WINDOWS` series
AUTO = "auto"
#: the method ``"auto"`` fits, chosen on validation windows (``evaluation/results/defaults_validation_calibration.md``)
AUTO_METHOD = "quantile"
#: the coverage error a calibration is meant to resolve (issue 9's band around 50% / 90%)
COVERAGE_TOLERANCE = 0.07
#: the fewest windows ``"auto"`` fits a map on: one standard error of a 50% coverage measured on W independent
#: windows, sqrt(0.25 / W), is within :data:`COVERAGE_TOLERANCE` (52). On fewer (bitcoin_daily's one series,
#: exchange_rate_nips's 8, ett_small_1h's 14) the fitted map under-covered its validation windows
AUTO_MIN_WINDOWS = math.ceil(0.25 / COVERAGE_TOLERANCE**2)
#: the least number of windows (over all series) a calibration held out of the training data is fitted on
MIN_CALIBRATION_WINDOWS = 16
#: the most windows of each series held out for it
MAX_CALIBRATION_WINDOWS_PER_SERIES = 5
#: the range a spread factor is clipped to
BOUNDS = (0.05, 20.0)


class SpreadCalibration:
    """A GluonTS ``OutputTransform``: sample paths ``(batch, samples, prediction_length[, dim])`` rescaled around
    their per-step median by ``factors[h]``; the other arguments only describe the fit."""

    @validated()
    def __init__(self, factors: List[float], pool: int = 2, windows: int = 0, fit: Optional[Dict[str, float]] = None):
        self.factors = [float(c) for c in factors]
        self.pool, self.windows, self.fit = int(pool), int(windows), dict(fit or {})

    def __call__(self, entry: Any, output: np.ndarray) -> np.ndarray:
        if output.shape[2] != len(self.factors):
            raise ValueError(
                f"the calibration has {len(self.factors)} spread factors, the forecasts {output.shape[2]} steps: "
                "calibrate the predictor again"
            )
        return rescale(output, np.asarray(self.factors))

    def describe(self) -> Dict[str, Any]:
        """What ``predictor.calibration`` shows."""
        return {"method": "spread", "factors": self.factors, "pool": self.pool, "windows": self.windows, **self.fit}


def rescale(samples: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``samples`` ``(batch, samples, H[, dim])`` as ``med + c_h (samples - med)``, med the per-step median."""
    c = factors.reshape((1, 1, -1) + (1,) * (samples.ndim - 3))
    median = np.median(samples, axis=1, keepdims=True)
    return (median + c * (samples - median)).astype(samples.dtype)


def check_method(
    method: Union[str, bool, None], where: str = "calibration", methods: Sequence[str] = METHODS
) -> Optional[str]:
    """``method`` once it is one of ``methods``; None for None or False (no calibration); else ``ValueError``
    naming them."""
    if method is None or method is False:
        return None
    if method not in methods:
        raise ValueError(f"{where}: unknown method {method!r}; known methods: {', '.join(methods)}")
    return str(method)


def check_calibration(value: Union[str, bool, None]) -> Optional[str]:
    """An estimator's ``calibration``: :data:`AUTO`, one of :data:`METHODS`, or None (:func:`check_method`)."""
    return check_method(value, methods=(AUTO, *METHODS))


def calibration_windows(num_series: int) -> int:
    """Windows of each training series held out to fit a calibration when no validation data is given: enough
    for :data:`MIN_CALIBRATION_WINDOWS` in all, at most :data:`MAX_CALIBRATION_WINDOWS_PER_SERIES`."""
    return min(MAX_CALIBRATION_WINDOWS_PER_SERIES, max(1, -(-MIN_CALIBRATION_WINDOWS // max(num_series, 1))))


def calibration_plan(
    calibration: Optional[str], training_data: Any, validation_data: Any, prediction_length: int
) -> Tuple[Any, Any, Optional[str]]:
    """``(data to train on, validation data, method to fit on it or None)`` for an estimator's ``calibration``
    (:func:`check_calibration`). The windows are ``validation_data`` or, when it is None, the last
    :func:`calibration_windows` windows of the training series (one each for ``"auto"``), held out of training.
    ``"auto"`` fits :data:`AUTO_METHOD` when the windows come from at least :data:`AUTO_MIN_WINDOWS` series, else
    nothing (the data come back whole, read once); an explicit method with no window at all raises ``ValueError``."""
    if calibration is None:
        return training_data, validation_data, None
    if validation_data is None:
        entries = list(training_data)
        windows = 1 if calibration == AUTO else calibration_windows(len(entries))
        split = validation_split(entries, prediction_length, windows)
        plan, whole, series = (split.train, split.validation), (entries, None), split.held_out
    else:
        held_out = list(validation_data)
        plan = whole = (training_data, held_out)
        series = len({entry.get("item_id", index) for index, entry in enumerate(held_out)})
    if calibration != AUTO:
        if not plan[1]:
            raise ValueError(
                f"calibration={calibration!r}: no training series is longer than 2 * prediction_length "
                f"({2 * prediction_length}) to hold a window out of; pass validation_data"
            )
        return (*plan, calibration)
    if series >= AUTO_MIN_WINDOWS:
        return (*plan, AUTO_METHOD)
    logger.info(
        "calibration='auto': windows of %d series to fit a map on, fewer than %d: the predictor is not recalibrated "
        "(calibration=%r fits one anyway)",
        series,
        AUTO_MIN_WINDOWS,
        AUTO_METHOD,
    )
    return (*whole, None)


def calibrate(
    predictor: Any,
    validation_data: Union[ValidationSplit, Sequence[Dict[str, Any]]],
    method: str = "spread",
    num_samples: Optional[int] = None,
    seed: int = 0,
    pool: Optional[int] = None,
    levels: int = 41,
) -> DiffusionPredictor:
    """A copy of ``predictor`` whose forecasts are recalibrated by a map fitted on ``validation_data``.

    Args:
        predictor: a trained ``DiffusionPredictor`` (an existing calibration is replaced, not stacked).
        validation_data: a :class:`ValidationSplit`, or entries whose last ``prediction_length`` steps are the
            window to forecast (``split.validation``): validation windows of the training series, not test data.
        method: ``"spread"`` (per-step spread factors around the median) or ``"quantile"`` (a monotone map of
            the quantile levels, fitted on the PIT of the truths: :mod:`.quantile_calibration`).
        num_samples: sample paths per window (default: the predictor's ``num_parallel_samples``).
        seed: seed of the validation forecasts (:meth:`DiffusionPredictor.predict`).
        pool: steps on each side of ``h`` whose windows also fit step ``h``'s factor or map (0: every step on its
            own; default: 2 for ``"spread"``, all steps pooled into one map for ``"quantile"``).
        levels: quantile levels the ``"quantile"`` map is stored at.
    """
    check_method(method, "calibrate")
    entries = windows_of(validation_data, predictor.prediction_length)
    raw = DiffusionPredictor.from_predictor(predictor, output_transform=None)
    samples, truth = forecast_windows(raw, entries, num_samples, seed)
    transform = fit_transform(samples, truth, method, pool, levels, windows=len(entries))
    return DiffusionPredictor.from_predictor(predictor, output_transform=transform)


def fit_transform(
    samples: np.ndarray,
    truth: np.ndarray,
    method: str,
    pool: Optional[int] = None,
    levels: int = 41,
    windows: int = 0,
) -> Union[SpreadCalibration, QuantileCalibration]:
    """The output transform of ``method`` (arguments as :func:`calibrate`'s) fitted on the forecasts ``samples``
    ``(N, S, H, D)`` of the windows ``truth`` ``(N, H, D)`` (:func:`forecast_windows`), with its in-sample
    :func:`fit_summary`."""
    fitted: Union[SpreadCalibration, QuantileCalibration]
    if method == "spread":
        pool = 2 if pool is None else int(pool)
        fitted = SpreadCalibration(fit_spread(samples, truth, pool).tolist(), pool=pool)
        params: Dict[str, Any] = {"factors": fitted.factors, "pool": pool}
    else:
        pool = None if pool is None else int(pool)
        level_list, knots = fit_quantile_map(samples, truth, pool, int(levels))
        params = {"levels": level_list, "knots": knots, "prediction_length": samples.shape[2], "pool": pool}
        fitted = QuantileCalibration(**params)
    fit = fit_summary(samples, truth, fitted(None, samples))
    return type(fitted)(**params, windows=int(windows), fit=fit)


def fit_summary(samples: np.ndarray, truth: np.ndarray, after: np.ndarray) -> Dict[str, float]:
    """Validation CRPS, 50/80/90% coverage and calibration error of the raw ``samples`` and the recalibrated
    ``after`` (both ``(N, S, H, D)``) against ``truth`` ``(N, H, D)``: in-sample figures of the fit."""
    out: Dict[str, float] = {}
    for when, paths in (("before", samples), ("after", after)):
        out[f"val_crps_{when}"] = mean_crps(paths, truth)
        for level in (0.5, 0.8, 0.9):
            out[f"val_coverage_{round(100 * level)}_{when}"] = coverage(paths, truth, level)
        out[f"val_calibration_error_{when}"] = calibration_error(paths, truth)
    return out


def windows_of(data: Union[ValidationSplit, Sequence[Dict[str, Any]]], prediction_length: int) -> List[Dict[str, Any]]:
    """The validation entries of ``data``, checked against the predictor's ``prediction_length``."""
    if isinstance(data, ValidationSplit):
        if data.prediction_length != prediction_length:
            raise ValueError(
                f"calibrate: the validation windows have {data.prediction_length} steps, the predictor forecasts "
                f"{prediction_length}: split the training data with prediction_length={prediction_length}"
            )
        data = data.validation
    entries = list(data or [])
    if not entries:
        raise ValueError(
            "calibrate: no validation windows; pass validation_split(train, prediction_length) "
            "(gluonts_diffusion.data.validation), whose windows are the last steps of the training series"
        )
    return entries


def forecast_windows(
    predictor: DiffusionPredictor, entries: Sequence[Dict[str, Any]], num_samples: Optional[int], seed: int
) -> Tuple[np.ndarray, np.ndarray]:
    """Forecasts of the last ``prediction_length`` steps of each entry from what precedes them, in units of the
    mean |value| of that history: ``(samples (N, S, H, D), truth (N, H, D))``; missing truths are NaN."""
    h = predictor.prediction_length
    pasts, truths, scales = [], [], []
    for entry in entries:
        target = np.asarray(entry["target"], dtype=np.float64)
        pasts.append({**entry, "target": target[..., :-h]})
        history = np.abs(np.where(np.isfinite(target[..., :-h]), target[..., :-h], np.nan))
        scale = np.nanmean(history, axis=-1) if np.isfinite(history).any() else np.ones(target.shape[:-1])
        scales.append(np.maximum(np.nan_to_num(scale, nan=1.0), 1e-12).reshape(-1))
        truths.append(np.where(np.isfinite(target[..., -h:]), target[..., -h:], np.nan).reshape(-1, h).T)
    forecasts = predictor.predict(pasts, num_samples=num_samples, seed=seed)
    samples = np.stack([np.asarray(f.samples, dtype=np.float64).reshape(*f.samples.shape[:2], -1) for f in forecasts])
    scale = np.stack(scales)[:, None, :]  # (N, 1, D)
    return samples / scale[:, None], np.stack(truths) / scale


def fit_spread(samples: np.ndarray, truth: np.ndarray, pool: int) -> np.ndarray:
    """Per-step factors ``(H,)`` minimising the summed fair CRPS of ``med + c (samples - med)`` against ``truth``
    over the windows of steps ``h - pool .. h + pool``; samples ``(N, S, H, D)``, truth ``(N, H, D)``."""
    h = samples.shape[2]
    median = np.median(samples, axis=1)  # (N, H, D)
    dev = samples - median[:, None]  # (N, S, H, D)
    spread = half_mean_difference(dev)  # (N, H, D)
    observed = np.isfinite(truth)
    factors = np.empty(h)
    for step in range(h):
        steps = slice(max(0, step - pool), min(h, step + pool + 1))
        keep = observed[:, steps]
        dev_h = np.moveaxis(dev[:, :, steps], 1, -1)[keep]  # (cells, S)
        gap = (truth[:, steps] - median[:, steps])[keep]  # (cells,)
        factors[step] = _argmin_c(dev_h, gap, spread[:, steps][keep].sum())
    return np.clip(factors, *BOUNDS)


def half_mean_difference(samples: np.ndarray) -> np.ndarray:
    """``0.5 E|X - X'|`` over the sample axis 1, fairly estimated (distinct pairs): ``(N, S, ...)`` -> ``(N, ...)``."""
    s = samples.shape[1]
    ranks = (2 * np.arange(s) - s + 1).reshape((1, s) + (1,) * (samples.ndim - 2))
    return (np.sort(samples, axis=1) * ranks).sum(axis=1) / (s * (s - 1))


def _argmin_c(dev: np.ndarray, gap: np.ndarray, spread: float) -> float:
    """The ``c >= 0`` minimising ``sum_cells mean_i |c dev_i - gap| - c spread``: where the slope
    ``sum w sign(c - r) - spread`` (breakpoints ``r = gap / dev``, weights ``w = |dev| / S``) crosses zero."""
    nonzero = dev != 0
    if not nonzero.any():
        return 1.0
    weight = np.abs(dev[nonzero]) / dev.shape[1]
    breaks = (np.broadcast_to(gap[:, None], dev.shape)[nonzero]) / dev[nonzero]
    order = np.argsort(breaks)
    cumulative = np.cumsum(weight[order])
    level = 0.5 * (cumulative[-1] + spread)  # slope 2 W(c) - W_total - spread = 0
    return float(max(breaks[order][min(np.searchsorted(cumulative, level), len(order) - 1)], 0.0))


def mean_crps(samples: np.ndarray, truth: np.ndarray) -> float:
    """Mean fair sample CRPS over the observed cells (samples ``(N, S, H, D)``, truth ``(N, H, D)``)."""
    crps = np.abs(samples - truth[:, None]).mean(axis=1) - half_mean_difference(samples)
    return float(np.nanmean(np.where(np.isfinite(truth), crps, np.nan)))


def coverage(samples: np.ndarray, truth: np.ndarray, level: float) -> float:
    """Share of observed cells inside the central ``level`` interval of the samples."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=1)
    inside = (truth >= lo) & (truth <= hi)
    return float(inside[np.isfinite(truth)].mean())


def calibration_error(samples: np.ndarray, truth: np.ndarray) -> float:
    """Mean over ``q`` = 0.05, 0.10, ..., 0.95 of |share of observed cells <= the samples' ``q``-quantile - q|."""
    levels = np.linspace(0.05, 0.95, 19)
    quantiles = np.quantile(samples, levels, axis=1)  # (Q, N, H, D)
    observed = np.isfinite(truth)
    below = (truth[None] <= quantiles)[:, observed].mean(axis=1)
    return float(np.abs(below - levels).mean())
