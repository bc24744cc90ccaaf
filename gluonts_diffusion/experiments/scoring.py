"""Scoring: the one list of reported metrics and the one ``score()`` every model and baseline goes through.

``score(predictor, test, ...)`` backtests the last window of every test entry with GluonTS's evaluators,
then adds the calibration figures (:func:`calibration`: coverage of the central 50/80/90% intervals, the
calibration error over the quantile levels 0.05...0.95, the sharpness of the 80% interval), computed from
the forecasts' quantiles for diffusion models and baselines alike, and (univariate) the exact sample CRPS.
:data:`METRICS` defines every metric once (key, header, which way is better, digits, where it is shown);
run tables, leaderboards and the search's metric check all read it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Literal, Optional, Sequence, Tuple

import numpy as np
import torch

QUANTILES: Tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
#: quantile levels of the calibration error: 0.05, 0.10, ..., 0.95
CALIBRATION_LEVELS: Tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
#: central intervals (in %) whose coverage is reported; the sharpness is the width of the 80% one
COVERAGE_LEVELS: Tuple[int, ...] = (50, 80, 90)
SHARPNESS_LEVEL = 80

Place = Literal["table", "leaderboard", "trial"]


@dataclass(frozen=True)
class Metric:
    """One reported number: its key in the metrics dict, a column header, which way is better
    (``lower``, ``higher``, or ``nominal``: closest to its ``nominal`` level, e.g. a coverage), the digits
    shown, and where it is shown (``table``: a run's table; ``leaderboard``: compare's columns;
    ``trial``: recorded on every search trial). An ``optional`` leaderboard column is left out of a dataset's
    table when none of its rows has the metric (sample CRPS: univariate targets only; CRPS-sum: multivariate)."""

    key: str
    header: str
    better: Literal["lower", "higher", "nominal"] = "lower"
    digits: int = 4
    shown: FrozenSet[Place] = frozenset()
    nominal: Optional[float] = None
    optional: bool = False


_ALL: FrozenSet[Place] = frozenset({"table", "leaderboard", "trial"})
_BOARD: FrozenSet[Place] = frozenset({"table", "leaderboard"})

#: every metric a run reports (GluonTS aggregate metrics, the added ones, and the run's own figures), in table order
METRICS: Tuple[Metric, ...] = (
    Metric("mean_wQuantileLoss", "CRPS", shown=_ALL),
    Metric("sample_CRPS", "sample CRPS", shown=_ALL, optional=True),
    Metric("m_sum_mean_wQuantileLoss", "CRPS-sum", shown=frozenset({"leaderboard"}), optional=True),
    Metric("MASE", "MASE", shown=_ALL),
    Metric("sMAPE", "sMAPE", shown=_BOARD),
    Metric("ND", "ND", shown=_BOARD),
    Metric("NRMSE", "NRMSE", shown=_BOARD),
    *(Metric(f"coverage_{c}", f"cov {c}%", better="nominal", shown=_ALL, nominal=c / 100) for c in COVERAGE_LEVELS),
    Metric("calibration_error", "calib err", shown=_ALL),
    Metric("sharpness", "sharpness", shown=_ALL),
    Metric("train_seconds", "train s", shown=frozenset({"leaderboard"})),
    Metric("sample_seconds_per_series", "sample s/series", shown=frozenset({"leaderboard"})),
    Metric("MAPE", "MAPE"),
    Metric("MSIS", "MSIS"),
    Metric("RMSE", "RMSE"),
    Metric("MSE", "MSE"),
    Metric("MAE_Coverage", "MAE coverage"),
    Metric("predict_seconds", "predict s"),
    Metric("num_parameters", "parameters", digits=0),
    Metric("nfe", "NFE", digits=0),
)
METRIC_BY_KEY: Dict[str, Metric] = {m.key: m for m in METRICS}
#: the :func:`calibration` figures, in table order
CALIBRATION_METRICS: Tuple[str, ...] = (*(f"coverage_{c}" for c in COVERAGE_LEVELS), "calibration_error", "sharpness")
#: per-quantile GluonTS metrics (``wQuantileLoss[0.5]``, ...), known by their prefix
METRIC_PREFIXES = ("wQuantileLoss[", "QuantileLoss[", "Coverage[")
#: what ranks a leaderboard
RANK_METRIC = "mean_wQuantileLoss"
#: the prefix of every metric scored on the validation windows (``val_mean_wQuantileLoss``, ``val_coverage_90``)
VAL_PREFIX = "val_"


def metrics_shown(place: Place) -> Tuple[Metric, ...]:
    """The metrics shown in ``place``, in table order."""
    return tuple(m for m in METRICS if place in m.shown)


#: a run's table (``ExperimentResult.table``), in order
TABLE_METRICS: Tuple[str, ...] = tuple(m.key for m in metrics_shown("table"))


def base_metric(key: str) -> str:
    """The metric ``key`` names, without the validation prefix (``val_coverage_90`` -> ``coverage_90``)."""
    return key[len(VAL_PREFIX) :] if key.startswith(VAL_PREFIX) else key


def validation_metric(key: str) -> str:
    """The validation version of metric ``key`` (``mean_wQuantileLoss`` -> ``val_mean_wQuantileLoss``)."""
    return VAL_PREFIX + base_metric(key)


def is_known_metric(key: str) -> bool:
    """Whether ``key`` is a reported metric, on the test split or (``val_`` prefix) the validation windows."""
    key = base_metric(key)
    return key in METRIC_BY_KEY or key.startswith(METRIC_PREFIXES)


def default_direction(key: str) -> Literal["minimize", "maximize"]:
    """The Optuna direction of a metric: ``maximize`` for higher-is-better ones, else ``minimize`` (a
    ``nominal`` metric is minimised as its distance to the nominal level, see :func:`objective_value`)."""
    metric = METRIC_BY_KEY.get(base_metric(key))
    return "maximize" if metric is not None and metric.better == "higher" else "minimize"


def objective_value(key: str, value: Optional[float]) -> Optional[float]:
    """What a search optimises for metric ``key``: ``|value - nominal|`` for a ``nominal`` metric (a
    coverage of 0.45 and one of 0.55 are equally far from 0.5), else ``value`` itself."""
    metric = METRIC_BY_KEY.get(base_metric(key))
    if value is None or metric is None or metric.nominal is None:
        return value
    return abs(value - metric.nominal)


def score(
    predictor, test: Sequence[dict], num_samples: int = 100, seed: int = 0, target_dim: int = 1, desc="forecasting"
):
    """Backtest ``predictor`` on ``test`` and score it: the one scoring path of diffusion models and baselines.

    Returns ``(metrics, forecasts, series, seconds)``: GluonTS's aggregate metrics plus the
    :func:`calibration` figures (``coverage_50/80/90``, ``calibration_error``, ``sharpness``) and
    (univariate) ``sample_CRPS``, the forecasts, the true series, prediction wall time.
    """
    metrics, forecasts, series, seconds = backtest(
        predictor, test, num_samples=num_samples, seed=seed, target_dim=target_dim, desc=desc
    )
    metrics.update(calibration(forecasts, series))
    if target_dim == 1:
        metrics["sample_CRPS"] = sample_crps(forecasts, series, num_samples=num_samples)
    return metrics, forecasts, series, seconds


def backtest(
    predictor,
    test: Sequence[dict],
    num_samples: int = 100,
    seed: int = 0,
    target_dim: int = 1,
    progress: Optional[bool] = None,
    desc: str = "forecasting",
):
    """Forecast the last window of every test entry and score it.

    Returns ``(metrics, forecasts, series, seconds)``: GluonTS aggregate metrics (``mean_wQuantileLoss``
    is the CRPS diffusion papers report; multivariate targets add ``m_sum_mean_wQuantileLoss``, CRPS-sum),
    the forecasts, the true series and the wall time of prediction. ``progress`` shows a tqdm bar over
    the series (``None``: only on a terminal).
    """
    from gluonts.evaluation import Evaluator, MultivariateEvaluator, make_evaluation_predictions
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    np.random.seed(seed)
    start = time.perf_counter()
    forecast_it, ts_it = make_evaluation_predictions(test, predictor, num_samples=num_samples)
    forecasts = list(
        tqdm(
            forecast_it,
            total=len(test),
            desc=desc,
            unit="series",
            disable=None if progress is None else not progress,
            leave=False,
        )
    )
    series = list(ts_it)
    seconds = time.perf_counter() - start
    if target_dim > 1:
        evaluator = MultivariateEvaluator(quantiles=QUANTILES, target_agg_funcs={"sum": np.sum}, num_workers=0)
    else:
        evaluator = Evaluator(quantiles=QUANTILES, num_workers=0)
    metrics, _ = evaluator(series, forecasts, num_series=len(test))
    metrics = {k: float(v) for k, v in metrics.items() if np.isscalar(v)}
    return metrics, forecasts, series, seconds


def sample_paths(forecast, num_samples: int = 100) -> np.ndarray:
    """Sample paths of any GluonTS forecast: a ``SampleForecast``'s own, or draws from a distribution
    forecast (DeepAR, SimpleFeedForward, PatchTST), shape ``(num_samples, prediction_length[, dim])``."""
    samples = getattr(forecast, "samples", None)
    if samples is None:
        samples = forecast.to_sample_forecast(num_samples).samples
    return np.asarray(samples)


def sample_crps(forecasts: List, series: List, num_samples: int = 100) -> float:
    """Exact sample CRPS (properscoring) averaged over series and steps, normalised by the sum of |target|
    over the forecast windows (the same normalisation as ``mean_wQuantileLoss``)."""
    import properscoring as ps

    total, scale = 0.0, 0.0
    for forecast, ts in zip(forecasts, series):
        truth = np.asarray(ts.iloc[-forecast.prediction_length :]).reshape(forecast.prediction_length, -1)
        paths = sample_paths(forecast, num_samples)
        samples = paths.reshape(paths.shape[0], forecast.prediction_length, -1)
        crps = ps.crps_ensemble(truth, np.moveaxis(samples, 0, -1))
        total += float(np.nansum(crps))
        scale += float(np.nansum(np.abs(truth)))
    return total / max(scale, 1e-12)


def forecast_quantiles(forecast, ts, levels: Sequence[float] = CALIBRATION_LEVELS) -> Tuple[np.ndarray, np.ndarray]:
    """The true forecast window ``(horizon, dim)`` and the forecast's quantiles at ``levels``,
    ``(len(levels), horizon, dim)`` (a ``SampleForecast``'s empirical ones, a distribution's exact ones)."""
    horizon = forecast.prediction_length
    truth = np.asarray(ts.iloc[-horizon:], dtype=float).reshape(horizon, -1)
    quantiles = np.stack([np.asarray(forecast.quantile(q), dtype=float).reshape(horizon, -1) for q in levels])
    return truth, quantiles


def calibration(forecasts: List, series: List) -> Dict[str, float]:
    """Calibration and sharpness of ``forecasts`` against ``series``, over all series, steps and dimensions
    whose truth is finite (every observed value counts once), from each forecast's quantiles:

    * ``coverage_<c>`` (c in 50, 80, 90): share of the truth inside the central ``c``% interval
      ``[q_(0.5 - c/200), q_(0.5 + c/200)]`` (ends included); a calibrated forecaster gives ``c/100``.
    * ``calibration_error``: mean over the quantile levels ``q`` = 0.05, 0.10, ..., 0.95 of
      ``|share of the truth <= quantile q  -  q|`` (0 when calibrated; a point forecast hitting every value
      gives 0.5). GluonTS's ``MAE_Coverage`` is similar but averages per series over 0.1...0.9.
    * ``sharpness``: mean width of the central 80% interval over mean ``|truth|`` (lower is sharper; only
      meaningful beside a calibrated coverage).
    """
    levels = np.asarray(CALIBRATION_LEVELS)
    index = {round(q, 2): i for i, q in enumerate(CALIBRATION_LEVELS)}
    below = np.zeros(len(levels))
    inside = dict.fromkeys(COVERAGE_LEVELS, 0.0)
    count = width = size = 0.0
    for forecast, ts in zip(forecasts, series):
        truth, quantiles = forecast_quantiles(forecast, ts)
        observed = np.isfinite(truth)
        count += float(observed.sum())
        size += float(np.abs(truth[observed]).sum())
        below += ((truth <= quantiles) & observed).sum(axis=(1, 2))
        for c in COVERAGE_LEVELS:
            low, high = quantiles[index[round((100 - c) / 200, 2)]], quantiles[index[round((100 + c) / 200, 2)]]
            inside[c] += float(((truth >= low) & (truth <= high) & observed).sum())
            if c == SHARPNESS_LEVEL:
                width += float((high - low)[observed].sum())
    out = {f"coverage_{c}": inside[c] / count if count else float("nan") for c in COVERAGE_LEVELS}
    if not count:
        return {**out, "calibration_error": float("nan"), "sharpness": float("nan")}
    out["calibration_error"] = float(np.mean(np.abs(below / count - levels)))
    out["sharpness"] = width / max(size, 1e-12)
    return out
