"""Validation windows held out of the training series with GluonTS's own splitter (``OffsetSplitter``).

:func:`validation_split` cuts the last ``windows x prediction_length`` steps off every training series that
can spare them; the model trains on what precedes, and each held-out window comes back as an entry that ends
where the window ends (its history plus the window). Those entries are both the ``validation_data`` of
``estimator.train_model(...)`` (GluonTS's ``ValidationSplitSampler`` takes each entry's last window as the
future) and what the validation metrics forecast and score (``score()`` backtests the last window of each
entry). The test split is never read.

    split = validation_split(data.train, prediction_length=48)
    estimator.train(split.train, validation_data=split.validation)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence

import numpy as np


@dataclass
class ValidationSplit:
    """Training entries with their validation windows removed, and the windows as entries of their own.

    ``validation``: for each series that gave up ``w`` windows, ``w`` entries ending at the end of each
    window (oldest first), and in ``origin`` the index of the series each came from; ``kept_whole``: item ids
    (else indices) of series too short to give up a window, which train on their whole history.
    """

    train: List[dict]
    validation: List[dict]
    windows: int
    prediction_length: int
    origin: List[int] = field(default_factory=list)
    held_out: int = 0
    kept_whole: List[Any] = field(default_factory=list)

    def summary(self) -> Dict[str, Any]:
        """What ``metrics.json`` records about the split."""
        return {
            "windows_per_series": self.windows,
            "prediction_length": self.prediction_length,
            "validation_windows": len(self.validation),
            "series_held_out": self.held_out,
            "series_kept_whole": len(self.kept_whole),
        }


def spare_windows(length: int, prediction_length: int, windows: int) -> int:
    """How many of ``windows`` a series of ``length`` steps can give up while keeping one training window
    (``prediction_length + 1`` steps) of its own."""
    return max(0, min(windows, (length - prediction_length - 1) // prediction_length))


def _joined(past: dict, future: dict) -> dict:
    """One entry: ``past`` followed by ``future`` (an ``OffsetSplitter`` test pair put back together)."""
    entry = dict(past)
    entry["target"] = np.concatenate([np.asarray(past["target"]), np.asarray(future["target"])], axis=-1)
    return entry


def validation_split(train: Sequence[dict], prediction_length: int, windows: int = 1) -> ValidationSplit:
    """Hold out the last ``windows`` windows of ``prediction_length`` steps of every series of ``train``.

    A series that cannot spare all of them gives up as many as it can (see :func:`spare_windows`); one that
    cannot spare any keeps its whole history for training and is listed in ``kept_whole``.
    """
    from gluonts.dataset.split import OffsetSplitter

    if int(windows) < 1:
        raise ValueError(f"validation windows must be an integer >= 1, got {windows!r}")
    out = ValidationSplit([], [], int(windows), int(prediction_length))
    for index, entry in enumerate(train):
        entry = {**entry, "target": np.asarray(entry["target"])}
        spare = spare_windows(entry["target"].shape[-1], prediction_length, int(windows))
        if not spare:
            out.train.append(entry)
            out.kept_whole.append(entry.get("item_id", index))
            continue
        splitter = OffsetSplitter(offset=-spare * prediction_length)
        out.train.append(splitter.training_entry(entry))
        for window in range(spare):
            past, future = splitter.test_pair(entry, prediction_length, offset=window * prediction_length)
            out.validation.append(_joined(past, future))
            out.origin.append(index)
        out.held_out += 1
    return out
