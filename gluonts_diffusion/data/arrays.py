"""Plain arrays and PyTorch-style datasets as GluonTS datasets, so both worlds train the same estimator.

The array convention is ``(sequence_length, num_features)`` (time first, as a PyTorch sequence model
would take it); GluonTS's is a ``target`` of shape ``(T,)`` for a univariate series and ``(dim, T)`` for
a multivariate one, with a ``start`` period. The adapters here convert, in both directions:

* :func:`from_arrays` -- one array ``(T,)`` / ``(T, F)``, a stacked ``(N, T, F)`` array, or a list of
  arrays (numpy, torch, nested lists; lengths may differ) -> a GluonTS dataset (a list of entries
  ``{"start", "target", "item_id"}``, as :func:`gluonts.dataset.common.ListDataset` builds them);
* :func:`from_history_future` -- items ``{"history": (T, F), "future": (H, F), "metadata": {...}}``
  (a ``torch.utils.data.Dataset``, or any sequence/iterable of such dicts or of ``(history, future[,
  metadata])`` tuples) -> training entries (the history), test entries (history + future, whose last
  ``H`` steps are the window a forecast is scored on) and, for items without a future, entries to forecast;
* :func:`to_arrays` / :func:`forecast_arrays` -- dataset entries and forecasts back to ``(T, F)`` and
  ``(num_samples, H, F)`` arrays.

Missing values are NaN, as in GluonTS (the estimator masks them). ``num_features == 1`` gives
univariate series (``target_dim=1``); otherwise one multivariate series per array (``target_dim=F``),
unless ``multivariate=False`` asks for every feature as its own univariate series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

ArrayLike = Any  # numpy array, torch tensor or nested lists
StartLike = Union[str, pd.Period, pd.Timestamp, int, None]

DEFAULT_START = "2000-01-01"


def _to_numpy(x: ArrayLike) -> np.ndarray:
    """A float32 numpy array from numpy, torch (any device, with or without grad) or nested lists."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _as_time_by_feature(x: ArrayLike, what: str = "array") -> np.ndarray:
    """``(T,)`` or ``(T, F)`` -> ``(T, F)`` float32."""
    a = _to_numpy(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{what} must have shape (sequence_length,) or (sequence_length, num_features), got {a.shape}")
    return a


def _series_list(arrays: ArrayLike) -> List[np.ndarray]:
    """Split the accepted inputs of :func:`from_arrays` into a list of ``(T, F)`` arrays."""
    if isinstance(arrays, (list, tuple)):
        if not arrays:
            raise ValueError("no arrays given")
        if all(_is_scalar(a) for a in arrays):  # one series as a list of numbers
            return [_as_time_by_feature(arrays)]
        return [_as_time_by_feature(a, f"arrays[{i}]") for i, a in enumerate(arrays)]
    a = _to_numpy(arrays)
    if a.ndim == 3:
        return list(a)
    return [_as_time_by_feature(a)]


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, float, np.number)) or (hasattr(x, "ndim") and x.ndim == 0)


def _period(start: StartLike, freq: str, default: StartLike = DEFAULT_START) -> pd.Period:
    """A start period: a date string/Timestamp/Period, or an integer offset (in steps) from ``default``."""
    if start is None:
        start = default
    if isinstance(start, (int, np.integer)) and not isinstance(start, bool):
        return pd.Period(default, freq) + int(start)
    if hasattr(start, "item") and not isinstance(start, (pd.Period, pd.Timestamp)):  # 0-d tensor / array
        return _period(start.item(), freq, default)
    if isinstance(start, pd.Period):
        start = start.start_time
    return pd.Period(start, freq)


def _entry(series: np.ndarray, start: pd.Period, item_id: str) -> dict:
    """A GluonTS entry from a ``(T, F)`` array: target ``(T,)`` when F == 1, else ``(F, T)``."""
    target = series[:, 0] if series.shape[1] == 1 else series.T
    return {"start": start, "target": np.ascontiguousarray(target, dtype=np.float32), "item_id": item_id}


def _split_features(series: np.ndarray, start: pd.Period, item_id: str) -> List[dict]:
    return [_entry(series[:, [j]], start, f"{item_id}_{j}") for j in range(series.shape[1])]


def _process(entries: List[dict], freq: str, multivariate: bool) -> List[dict]:
    """Run the entries through GluonTS's ``ListDataset`` processing (types, start periods)."""
    from gluonts.dataset.common import ListDataset

    return ListDataset(entries, freq=freq, one_dim_target=not multivariate)


def from_arrays(
    arrays: ArrayLike,
    freq: str = "H",
    start: Union[StartLike, Sequence[StartLike]] = DEFAULT_START,
    item_ids: Optional[Sequence[Any]] = None,
    multivariate: Optional[bool] = None,
) -> List[dict]:
    """A GluonTS dataset from arrays of shape ``(sequence_length, num_features)``.

    Args:
        arrays: one series ``(T,)`` or ``(T, F)``; a stack ``(N, T, F)``; or a list of series (numpy
            arrays, torch tensors or nested lists; lengths may differ, ``F`` may not).
        freq: pandas frequency of the time index.
        start: the first period of every series, or one per series (date string, ``pd.Period``,
            ``pd.Timestamp``, or an integer offset in steps from 2000-01-01).
        item_ids: one id per series (default ``"0"``, ``"1"``, ...).
        multivariate: ``None`` -> univariate series when ``F == 1``, one multivariate series per array
            (target ``(F, T)``) otherwise; ``False`` -> every feature becomes its own univariate series
            (ids ``"<id>_<feature>"``); ``True`` -> multivariate even when ``F == 1``.

    Returns:
        A list of entries ``{"start", "target", "item_id"}`` (``ListDataset``); train a
        ``DiffusionEstimator(freq=freq, target_dim=F)`` on it (``target_dim=1`` when univariate).
    """
    series = _series_list(arrays)
    dims = {s.shape[1] for s in series}
    if len(dims) > 1:
        raise ValueError(f"every array must have the same number of features, got {sorted(dims)}")
    dim = dims.pop()
    starts = list(start) if isinstance(start, (list, tuple)) else [start] * len(series)
    if len(starts) != len(series):
        raise ValueError(f"start: got {len(starts)} starts for {len(series)} series")
    ids = [str(i) for i in (item_ids if item_ids is not None else range(len(series)))]
    if len(ids) != len(series):
        raise ValueError(f"item_ids: got {len(ids)} ids for {len(series)} series")
    multi = dim > 1 if multivariate is None else bool(multivariate)
    entries: List[dict] = []
    for s, st, i in zip(series, starts, ids):
        if len(s) == 0:
            raise ValueError(f"series {i!r} is empty")
        period = _period(st, freq)
        entries.extend(
            _split_features(s, period, i) if not multi and dim > 1 else [_entry_with_dim(s, period, i, multi)]
        )
    return _process(entries, freq, multi)


def _entry_with_dim(series: np.ndarray, start: pd.Period, item_id: str, multivariate: bool) -> dict:
    entry = _entry(series, start, item_id)
    if multivariate and entry["target"].ndim == 1:
        entry["target"] = entry["target"][None, :]
    return entry


def to_arrays(dataset: Iterable[Mapping[str, Any]]) -> List[np.ndarray]:
    """The targets of GluonTS entries as ``(T, F)`` float32 arrays (``F = 1`` for univariate series)."""
    out = []
    for entry in dataset:
        target = np.asarray(entry["target"], dtype=np.float32)
        out.append(target[:, None] if target.ndim == 1 else target.T.copy())
    return out


def forecast_arrays(forecasts: Iterable[Any]) -> List[np.ndarray]:
    """GluonTS ``SampleForecast`` s as ``(num_samples, prediction_length, F)`` arrays."""
    out = []
    for forecast in forecasts:
        samples = np.asarray(forecast.samples)
        out.append(samples[..., None] if samples.ndim == 2 else samples)
    return out


# --------------------------------------------------------------------------- history / future items
@dataclass
class HistoryFutureData:
    """Entries built by :func:`from_history_future`.

    ``train``: one entry per item, its history; ``test``: one entry per item *with a future*, history
    followed by the future (the last ``prediction_length`` steps are what forecasts are scored on;
    forecasting the ``test`` entries with ``make_evaluation_predictions`` conditions on the history only);
    ``predict``: one entry per item *without* a future, its history, to forecast with ``predictor.predict``
    (nothing to score it on, so it is never in ``test``).
    """

    train: List[dict]
    test: List[dict]
    freq: str
    prediction_length: Optional[int]
    target_dim: int
    predict: List[dict] = field(default_factory=list)


def _items(items: Any) -> Iterable[Any]:
    """Items of a map-style dataset (``__len__`` + ``__getitem__``, e.g. ``torch.utils.data.Dataset``),
    or of any iterable."""
    if hasattr(items, "__len__") and hasattr(items, "__getitem__") and not isinstance(items, Mapping):
        return (items[i] for i in range(len(items)))
    return iter(items)


def _unpack(item: Any, index: int):
    """``(history, future or None, metadata dict)`` from a dict item or a ``(history, future[, metadata])`` tuple."""
    if isinstance(item, Mapping):
        if "history" not in item:
            raise ValueError(f"item {index}: a dict item needs a 'history' key, got keys {sorted(item)}")
        return item["history"], item.get("future"), dict(item.get("metadata") or {})
    if isinstance(item, (tuple, list)) and len(item) in (2, 3):
        meta = dict(item[2]) if len(item) == 3 and item[2] is not None else {}
        return item[0], item[1], meta
    raise ValueError(
        f"item {index}: expected a dict with 'history', 'future', 'metadata' or a tuple (history, future[, metadata])"
    )


def _scalar(value: Any) -> Any:
    """Unwrap 0-d tensors/arrays and one-element lists (what a default collate leaves in metadata)."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _common_freq(metadata: Iterable[Mapping[str, Any]]) -> str:
    """The ``freq`` the items' metadata agree on (``"H"`` if none gives one)."""
    freqs = {str(meta["freq"]) for meta in metadata if meta.get("freq")}
    if len(freqs) > 1:
        raise ValueError(f"items disagree on metadata['freq']: {sorted(freqs)}; pass freq=")
    return freqs.pop() if freqs else "H"


def from_history_future(
    items: Any,
    freq: Optional[str] = None,
    start: StartLike = DEFAULT_START,
    multivariate: Optional[bool] = None,
    prediction_length: Optional[int] = None,
) -> HistoryFutureData:
    """Training and test entries from items with a ``history`` ``(T, F)`` and a ``future`` ``(H, F)``.

    Args:
        items: a ``torch.utils.data.Dataset`` (or list, or iterable) of dicts ``{"history", "future",
            "metadata"}`` or tuples ``(history, future[, metadata])``; arrays are numpy, torch or lists,
            ``(T,)`` or ``(T, F)``. ``future`` may be missing/None: the item's history is then in ``train``
            and in ``predict`` (to forecast), not in ``test`` (its last steps are history, not a future to
            score). ``metadata`` may hold ``start``, ``freq`` and ``item_id``.
        freq: frequency (default: the items' ``metadata["freq"]``, else ``"H"``); items may not disagree.
        start: start of items whose metadata has none (see :func:`from_arrays`).
        multivariate: as in :func:`from_arrays` (``False`` splits features into univariate series).
        prediction_length: horizon when no item has a future (else the futures' common length).

    Returns:
        :class:`HistoryFutureData` with ``train``, ``test``, ``freq``, ``prediction_length``, ``target_dim``,
        ``predict``.
    """
    unpacked = [_unpack(item, index) for index, item in enumerate(_items(items))]
    if not unpacked:
        raise ValueError("no items given")
    unpacked = [(history, future, {k: _scalar(v) for k, v in meta.items()}) for history, future, meta in unpacked]
    freq = freq if freq is not None else _common_freq(meta for _, _, meta in unpacked)
    arrays = [_item_arrays(index, history, future) for index, (history, future, _) in enumerate(unpacked)]
    horizons = {len(f) for _, f in arrays if f is not None}
    if len(horizons) > 1:
        raise ValueError(f"every future must have the same length (the prediction length), got {sorted(horizons)}")
    horizon = horizons.pop() if horizons else prediction_length
    if prediction_length is not None and horizon != prediction_length:
        raise ValueError(f"prediction_length={prediction_length} but the futures have {horizon} steps")
    starts = [meta.get("start", start) for _, _, meta in unpacked]
    ids = [meta.get("item_id", index) for index, (_, _, meta) in enumerate(unpacked)]

    def entries(which: List[int], with_future: bool) -> List[dict]:
        if not which:
            return []
        series = [np.concatenate(arrays[i]) if with_future else arrays[i][0] for i in which]
        picked = dict(start=[starts[i] for i in which], item_ids=[ids[i] for i in which])
        return from_arrays(series, freq=freq, multivariate=multivariate, **picked)

    scored = [i for i, (_, f) in enumerate(arrays) if f is not None]
    train = entries(list(range(len(arrays))), with_future=False)
    test = entries(scored, with_future=True)
    predict = entries([i for i, (_, f) in enumerate(arrays) if f is None], with_future=False)
    dim = arrays[0][0].shape[1]
    multi = dim > 1 if multivariate is None else bool(multivariate)
    return HistoryFutureData(train, test, freq, horizon, dim if multi else 1, predict)


def _item_arrays(index: int, history: ArrayLike, future: ArrayLike) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """An item's history ``(T, F)`` and future ``(H, F)`` (None when it has none)."""
    h = _as_time_by_feature(history, f"item {index} history")
    if future is None:
        return h, None
    f = _as_time_by_feature(future, f"item {index} future")
    if f.shape[1] != h.shape[1]:
        raise ValueError(f"item {index}: history has {h.shape[1]} features but future has {f.shape[1]}")
    return h, f
