"""Backtesting a predictor on a test split with GluonTS's own evaluators."""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

QUANTILES: Tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))

#: metrics reported in tables, in order
REPORTED_METRICS = ("mean_wQuantileLoss", "MASE", "sMAPE", "ND", "NRMSE")


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


def interval_coverage(forecasts: List, series: List, levels: Sequence[int] = (50, 90)) -> Dict[str, float]:
    """Share of the true values inside the central ``level``% interval of each forecast (from its
    quantiles: [q25, q75] for 50, [q05, q95] for 90), over all series and steps: ``coverage_50``, ``coverage_90``.
    A calibrated forecaster gives about 0.5 and 0.9."""
    inside = {level: 0.0 for level in levels}
    count = 0.0
    for forecast, ts in zip(forecasts, series):
        horizon = forecast.prediction_length
        truth = np.asarray(ts.iloc[-horizon:], dtype=float).reshape(horizon, -1)
        observed = np.isfinite(truth)
        count += float(observed.sum())
        for level in levels:
            tail = (100 - level) / 200.0
            low = np.asarray(forecast.quantile(tail), dtype=float).reshape(horizon, -1)
            high = np.asarray(forecast.quantile(1 - tail), dtype=float).reshape(horizon, -1)
            inside[level] += float(((truth >= low) & (truth <= high) & observed).sum())
    return {f"coverage_{level}": inside[level] / count if count else float("nan") for level in levels}
