"""``CheckEntries``: the first step of the estimator's transformation chain; refuses a series the model cannot
use with one line naming it, and marks non-finite values as missing.

GluonTS's ``AddObservedValuesIndicator`` marks only NaN as missing: ``+-inf`` would reach the scaling
statistics and turn every weight into NaN. Here they become NaN, so they are masked like any missing value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gluonts.core.component import validated
from gluonts.dataset.common import DataEntry
from gluonts.dataset.field_names import FieldName
from gluonts.transform import MapTransformation
from pandas.tseries.frequencies import to_offset


class DataError(ValueError):
    """A series the model cannot use; the message names it and says what to do."""


def series_name(entry: DataEntry) -> str:
    """``series 'item_id'`` (or, without an item id, ``the series starting <start>``) for error messages."""
    if entry.get(FieldName.ITEM_ID) is not None:
        return f"series {str(entry[FieldName.ITEM_ID])!r}"
    return f"the series starting {entry.get(FieldName.START)}"


class CheckEntries(MapTransformation):
    """Refuses a target whose shape does not match ``target_dim``, a ``start`` of another frequency than
    ``freq`` and (at prediction) an empty target; replaces ``+-inf`` in the target by NaN (missing).

    Args:
        freq: the estimator's frequency; an entry's ``start`` Period must have the same.
        target_dim: 1 (a 1-D target ``(T,)``) or the rows of a multivariate target ``(target_dim, T)``.
    """

    @validated()
    def __init__(self, freq: str, target_dim: int = 1) -> None:
        self.freq = freq
        self.target_dim = target_dim
        self.offset = to_offset(freq)

    def map_transform(self, data: DataEntry, is_train: bool) -> DataEntry:
        target = np.asarray(data[FieldName.TARGET], dtype=np.float32)
        self._check_shape(data, target)
        self._check_freq(data, data.get(FieldName.START))
        if not is_train and target.shape[-1] == 0:
            raise DataError(f"{series_name(data)}: empty target at prediction; give at least one past value")
        infinite = np.isinf(target)
        if infinite.any():
            target = np.where(infinite, np.float32(np.nan), target)
        data[FieldName.TARGET] = target
        return data

    def _check_shape(self, data: DataEntry, target: np.ndarray) -> None:
        expected = "(T,)" if self.target_dim == 1 else f"({self.target_dim}, T)"
        if target.ndim == (1 if self.target_dim == 1 else 2) and (
            self.target_dim == 1 or len(target) == self.target_dim
        ):
            return
        hint = f"target_dim={target.shape[0]}" if target.ndim == 2 else "target_dim=1"
        raise DataError(
            f"{series_name(data)}: target has shape {target.shape}, but target_dim={self.target_dim} expects "
            f"{expected}; set {hint} or reshape the target"
        )

    def _check_freq(self, data: DataEntry, start: Any) -> None:
        freq = getattr(start, "freq", None)
        if freq is None or freq == self.offset:
            return
        raise DataError(
            f"{series_name(data)}: start {start} has frequency {freq.freqstr!r}, but the estimator's freq is "
            f"{self.freq!r}; resample the series to {self.freq!r} or train with freq={freq.freqstr!r}"
        )
