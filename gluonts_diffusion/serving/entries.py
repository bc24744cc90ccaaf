"""JSON in, JSON out: one GluonTS JSON line -> a checked data entry, one forecast -> a JSON-able dict.

Shared by every way of serving a predictor (the predict command, its Ray engine, the HTTP app), so a bad row is
refused with the same one-line reason everywhere.
"""

from typing import Any, Dict, Iterable, Optional, Union

import numpy as np
import pandas as pd
from gluonts import json
from gluonts.model.forecast import Forecast


class BadRow(ValueError):
    """An input row that cannot be forecast; the message is the one-line reason."""


def parse_row(line: Union[str, bytes]) -> Dict[str, Any]:
    """The JSON object on ``line`` (raises :class:`BadRow` if it is not one)."""
    try:
        row = json.loads(line)
    except ValueError as err:
        raise BadRow(f"not JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(row, dict):
        raise BadRow(f"not a JSON object but {type(row).__name__}")
    return row


def entry_from_row(row: Dict[str, Any], freq: str, target_dim: int = 1) -> Dict[str, Any]:
    """The GluonTS data entry of a JSON row ``{"start", "target"[, "item_id", ...]}``: ``start`` as a
    ``pd.Period`` of ``freq``, ``target`` as float32 of shape ``(T,)`` (``target_dim == 1``) or
    ``(target_dim, T)``. ``null`` and ``"NaN"`` values are missing values. Raises :class:`BadRow`."""
    if "target" not in row:
        raise BadRow("no target")
    target = _as_array(row["target"])
    expected = 1 if target_dim == 1 else 2
    if target.ndim != expected or (target_dim > 1 and target.shape[0] != target_dim):
        wanted = "a list of numbers" if target_dim == 1 else f"{target_dim} lists of numbers"
        raise BadRow(f"target has shape {target.shape}, the model needs {wanted}")
    if target.shape[-1] == 0:
        raise BadRow("empty target")
    if "start" not in row:
        raise BadRow("no start")
    try:
        start = pd.Period(row["start"], freq)
    except (TypeError, ValueError) as err:
        raise BadRow(f"start {row['start']!r} does not parse as a time of frequency {freq} ({err})") from None
    if start is pd.NaT:
        raise BadRow(f"start {row['start']!r} is not a time")
    return {**row, "start": start, "target": target}


def _as_array(values: Any) -> np.ndarray:
    if not isinstance(values, list):
        raise BadRow(f"target is {type(values).__name__}, not a list of numbers")
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise BadRow(f"non-numeric target values ({str(err).splitlines()[0]})") from None
    return array


def forecast_to_dict(forecast: Forecast, quantiles: Iterable[float], samples: bool = False) -> Dict[str, Any]:
    """``{"item_id", "start", "mean", "quantiles": {"0.1": [...], ...}[, "samples"]}`` of ``forecast``;
    ``start`` is the first forecast period. Values are float32 written exactly (NaN as ``NaN``)."""
    out: Dict[str, Any] = {
        "item_id": _item_id(forecast.item_id),
        "start": str(forecast.start_date),
        "mean": forecast.mean.tolist(),
        "quantiles": {quantile_key(q): forecast.quantile(q).tolist() for q in quantiles},
    }
    if samples:
        out["samples"] = np.asarray(forecast.samples).tolist()
    return out


def quantile_key(level: Union[float, str]) -> str:
    """The JSON key of a quantile level: ``0.1`` and ``"0.10"`` are both ``"0.1"``."""
    return str(float(level))


def _item_id(item_id: Optional[Any]) -> Optional[Any]:
    return item_id.item() if isinstance(item_id, np.generic) else item_id
