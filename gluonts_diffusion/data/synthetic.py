"""Seeded synthetic GluonTS datasets, loadable by name (no files): intermittent counts with bursts.

``synthetic_intermittent`` (:func:`intermittent_counts` with its defaults): 80 weekly series of counts. Each
series has a demand probability ``p`` drawn from [0.1, 0.45] (Croston's intermittent demand) and a demand size
level ``m`` drawn log-uniformly from [1, 20]; a step has demand with probability ``p`` and then a negative-binomial
size (mean ``m``, dispersion 2) of at least 1, else 0. Bursts: each step starts one with probability 0.02 (and
every series gets at least one, in its training part), lasting 1-3 steps of ``ceil(k m)`` plus Poisson(``m``)
counts, ``k`` drawn from [5, 15]. About 70% of the values are zero. Splits the GluonTS way: the test entry of a
series is its training entry plus the next ``prediction_length`` steps.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np
import pandas as pd
from gluonts.dataset.common import ListDataset, MetaData, TrainDatasets


def _series(rng: np.random.Generator, length: int, burst_end: int) -> np.ndarray:
    """One intermittent count series ``(length,)``; its first burst starts before ``burst_end``."""
    p, level = rng.uniform(0.1, 0.45), float(np.exp(rng.uniform(0.0, np.log(20.0))))
    dispersion = 2.0  # negative binomial with mean ``level``: n = 2, success probability n / (n + level)
    sizes = np.maximum(rng.negative_binomial(dispersion, dispersion / (dispersion + level), length), 1)
    values = np.where(rng.random(length) < p, sizes, 0).astype(np.float64)
    starts = np.flatnonzero(rng.random(length) < 0.02)
    if not (starts < burst_end).any():
        starts = np.append(starts, rng.integers(0, burst_end))
    for start in starts:
        stop = min(length, start + int(rng.integers(1, 4)))
        size = np.ceil(rng.uniform(5.0, 15.0) * level)
        values[start:stop] = size + rng.poisson(level, stop - start)
    return values.astype(np.float32)


def intermittent_counts(
    num_series: int = 80,
    freq: str = "W",
    prediction_length: int = 8,
    min_length: int = 96,
    max_length: int = 160,
    seed: int = 0,
) -> TrainDatasets:
    """Intermittent count series with bursts (module docstring) as GluonTS ``TrainDatasets``: training series of
    ``min_length``..``max_length`` steps, test entries ``prediction_length`` steps longer. Same seed, same data."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for i in range(num_series):
        length = int(rng.integers(min_length, max_length + 1))
        values = _series(rng, length + prediction_length, burst_end=length)
        start = pd.Period("2015-01-01", freq) + int(rng.integers(0, 52))
        entry = {"start": start, "item_id": f"intermittent_{i}"}
        train.append({**entry, "target": values[:length]})
        test.append({**entry, "target": values})
    metadata = MetaData(freq=freq, prediction_length=prediction_length)
    return TrainDatasets(metadata, ListDataset(train, freq=freq), ListDataset(test, freq=freq))


#: synthetic dataset names -> generators (``load_dataset`` knows them; nothing is read or downloaded)
SYNTHETIC_DATASETS: Dict[str, Callable[[], TrainDatasets]] = {"synthetic_intermittent": intermittent_counts}
