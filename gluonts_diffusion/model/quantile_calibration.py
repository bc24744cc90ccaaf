"""Quantile (PIT) recalibration of sample paths (Kuleshov et al. 2018, "Accurate uncertainties for deep learning
using calibrated regression"), fitted on validation windows by :func:`gluonts_diffusion.model.calibration.calibrate`.

Each step's sample set is read as a continuous distribution: its sorted values sit at the mid-rank levels
``(i + 0.5) / S``, joined piecewise-linearly in probit space (``Phi^-1`` of the level), with straight tails of the
outer decile's slope beyond the extreme samples (:func:`quantile_at`). The PIT of a truth under that distribution
(:func:`probit_scores`, mid-level for ties) is uniform when the forecasts are calibrated; its empirical quantiles
``R^-1(q)`` at ``levels`` quantile levels, pooled over series, dimensions and steps (all steps, or the ``pool``
neighbours of each step), are the stored knots. At prediction (:class:`QuantileCalibration`), the path of mid-rank
level ``u`` at a step takes the step's sample quantile at ``R^-1(u)``: ranks, and so the paths' joint structure across
steps, are kept, and the forecast's ``q``-quantile becomes the old ``R^-1(q)``-quantile. Both maps are interpolated
(and extrapolated) linearly in probit space, where a Gaussian forecast off by a spread factor is a straight line.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from gluonts.core.component import validated
from scipy.special import ndtr, ndtri

#: probit scores are clipped to +-CLIP (a truth outside a sample set whose tail is flat has an infinite score)
CLIP = 8.0


class QuantileCalibration:
    """A GluonTS ``OutputTransform``: sample paths ``(batch, samples, prediction_length[, dim])`` whose value at each
    step is moved to the step's sample quantile at ``R^-1(level of its rank)``; ``knots[r][k] = R^-1(levels[k])``,
    one row for all steps or one per step. The other arguments only describe the fit."""

    @validated()
    def __init__(
        self,
        levels: List[float],
        knots: List[List[float]],
        prediction_length: int,
        pool: Optional[int] = None,
        windows: int = 0,
        fit: Optional[Dict[str, float]] = None,
    ):
        self.levels = [float(q) for q in levels]
        self.knots = [[float(p) for p in row] for row in knots]
        self.prediction_length, self.pool = int(prediction_length), pool
        self.windows, self.fit = int(windows), dict(fit or {})

    def __call__(self, entry: Any, output: np.ndarray) -> np.ndarray:
        if output.shape[2] != self.prediction_length:
            raise ValueError(
                f"the calibration was fitted on {self.prediction_length} steps, the forecasts have {output.shape[2]}: "
                "calibrate the predictor again"
            )
        return remap(output, np.asarray(self.levels), np.asarray(self.knots))

    def describe(self) -> Dict[str, Any]:
        """What ``predictor.calibration`` shows."""
        return {
            "method": "quantile",
            "levels": self.levels,
            "knots": self.knots,
            "pool": "all steps" if self.pool is None else self.pool,
            "windows": self.windows,
            **self.fit,
        }


def fit_quantile_map(
    samples: np.ndarray, truth: np.ndarray, pool: Optional[int], levels: int
) -> Tuple[List[float], List[List[float]]]:
    """``(levels (K,), knots (rows, K))``: the empirical quantiles of the PIT of ``truth`` ``(N, H, D)`` under
    ``samples`` ``(N, S, H, D)`` at levels ``(k + 0.5) / K``, over all steps (``pool=None``: one row) or over steps
    ``h - pool .. h + pool`` for each ``h`` (``H`` rows); missing truths are left out (a group with none: the
    identity)."""
    if samples.shape[1] < 2:
        raise ValueError("calibrate: the quantile method needs at least 2 sample paths per window")
    observed = np.isfinite(truth)
    scores = probit_scores(np.sort(np.moveaxis(samples, 1, -1), axis=-1), np.where(observed, truth, 0.0))
    q = (np.arange(levels) + 0.5) / levels
    h = truth.shape[1]
    groups = [slice(None)] if pool is None else [slice(max(0, t - pool), min(h, t + pool + 1)) for t in range(h)]
    # a group without any observed truth keeps the identity map (the spread method's factor 1)
    knots = [
        ndtr(np.quantile(scores[:, g][observed[:, g]], q)).tolist() if observed[:, g].any() else q.tolist()
        for g in groups
    ]
    return q.tolist(), knots


def remap(samples: np.ndarray, levels: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``samples`` ``(B, S, H[, D])`` with the path of rank level ``u`` at step ``h`` moved to the step's sample
    quantile at ``R_h^-1(u)`` (``levels (K,)``, ``knots (1 or H, K)``); ranks are kept."""
    b, s, h = samples.shape[:3]
    if s < 2:
        return samples
    x = np.moveaxis(samples.reshape(b, s, h, -1).astype(np.float64), 1, -1)  # (B, H, D, S)
    order = np.argsort(x, axis=-1, kind="stable")
    ranked = np.take_along_axis(x, order, -1)
    edge = ndtr(CLIP)
    targets = interpolate(
        ndtri(np.clip(levels, 1 - edge, edge)), ndtri(np.clip(knots, 1 - edge, edge)), mid_probits(s)[None]
    )  # (rows, S): probit level each rank is moved to
    moved = quantile_at(ranked, np.broadcast_to(targets[:, None, :], (h, 1, s))[None])
    out = np.empty_like(ranked)
    np.put_along_axis(out, order, moved, -1)
    return np.moveaxis(out, -1, 1).reshape(samples.shape).astype(samples.dtype)


def mid_probits(s: int) -> np.ndarray:
    """Probits of the mid-rank levels ``(i + 0.5) / s``: ``(s,)``."""
    return ndtri((np.arange(s) + 0.5) / s)


def tail_slopes(knots: np.ndarray, values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Slopes of ``values (..., S)`` over their outer tenth of ``knots (S,)`` at each end: ``((...), (...))``."""
    k = max(1, len(knots) // 10)
    low = (values[..., k] - values[..., 0]) / (knots[k] - knots[0])
    high = (values[..., -1] - values[..., -1 - k]) / (knots[-1] - knots[-1 - k])
    return low, high


def interpolate(knots: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Piecewise-linear ``values (..., S)`` at increasing ``knots (S,)``, read at ``query`` (broadcastable to
    ``(..., M)``), with straight tails of :func:`tail_slopes` beyond the ends: ``(..., M)``."""
    query = np.broadcast_to(query, values.shape[:-1] + query.shape[-1:])
    i = np.clip(np.searchsorted(knots, query), 1, len(knots) - 1)
    frac = np.clip((query - knots[i - 1]) / (knots[i] - knots[i - 1]), 0.0, 1.0)
    lo, hi = np.take_along_axis(values, i - 1, -1), np.take_along_axis(values, i, -1)
    low, high = tail_slopes(knots, values)
    below = np.minimum(query - knots[0], 0.0) * low[..., None]
    above = np.maximum(query - knots[-1], 0.0) * high[..., None]
    return lo + frac * (hi - lo) + below + above


def quantile_at(ranked: np.ndarray, probits: np.ndarray) -> np.ndarray:
    """Sample quantiles of the sorted samples ``ranked (..., S)`` at probit levels ``probits (..., M)``."""
    return interpolate(mid_probits(ranked.shape[-1]), ranked, probits)


def probit_scores(ranked: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The probit of each truth's PIT under its sorted samples ``ranked (..., S)`` (the inverse of
    :func:`quantile_at`; a truth equal to samples gets the middle of their levels): ``truth (...)`` -> ``(...)``."""
    s = ranked.shape[-1]
    knots = mid_probits(s)
    y = truth[..., None]
    below, equal = (ranked < y).sum(-1), (ranked == y).sum(-1)
    tie = 0.5 * (knots[np.minimum(below, s - 1)] + knots[np.clip(below + equal - 1, 0, s - 1)])
    i = np.clip(below, 1, s - 1)[..., None]
    lo, hi = np.take_along_axis(ranked, i - 1, -1)[..., 0], np.take_along_axis(ranked, i, -1)[..., 0]
    low, high = tail_slopes(knots, ranked)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = knots[i[..., 0] - 1] + (truth - lo) / (hi - lo) * (knots[i[..., 0]] - knots[i[..., 0] - 1])
        lower = np.where(low > 0, knots[0] + (truth - ranked[..., 0]) / low, -CLIP)
        upper = np.where(high > 0, knots[-1] + (truth - ranked[..., -1]) / high, CLIP)
    score = np.where(below == 0, lower, np.where(below == s, upper, inside))
    return np.clip(np.where(equal > 0, tie, score), -CLIP, CLIP)
