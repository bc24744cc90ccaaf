"""Imputation: sample paths for the missing values of whole series, from a predictor trained with ``imputation``.

The missing values (NaN or +-inf) of each series are covered by windows of ``prediction_length`` steps, placed
greedily (:func:`window_starts`). Each window is one input of the model: the ``past_length`` steps before it as
history (cut and left-padded by GluonTS's own ``InstanceSplitter``, the predictor's, as at training), its
observed values as the known entries of the window (``future_target`` / ``future_known``, CSDI's conditioning,
Tashiro et al., 2021), its time features from the predictor's own transformation. The windows of all series are
batched together, ``predictor.batch_size`` at a time. Every missing entry is sampled by exactly one window
(the first that covers it); each window sees only the observed values, never another window's samples.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import pandas as pd
import torch
from gluonts.dataset.field_names import FieldName
from gluonts.model.forecast import SampleForecast
from gluonts.transform import Chain, InstanceSampler, InstanceSplitter, Transformation

from gluonts_diffusion.core.component import check_int

#: the one line refusing a predictor that cannot impute
NOT_IMPUTATION = (
    "this predictor was not trained for imputation: train it with imputation: true "
    "(model: {imputation: true} in the config, or DiffusionEstimator(..., imputation=True))"
)


class SampleImputation(SampleForecast):
    """Sample paths ``(num_samples, T[, dim])`` of a whole series: its observed values in every path, its
    missing ones sampled; ``start_date`` is the series' start, so ``.index``, ``.mean`` and ``.quantile(q)`` are
    filled series.

    Args:
        missing: bool ``(T[, dim])`` (the layout of ``.mean``), True where the series had no value.
    """

    def __init__(
        self,
        samples: np.ndarray,
        start_date: pd.Period,
        missing: np.ndarray,
        item_id: Optional[str] = None,
        info: Optional[Dict] = None,
    ) -> None:
        super().__init__(samples=samples, start_date=start_date, item_id=item_id, info=info)
        self.missing = np.asarray(missing, dtype=bool)

    @property
    def missing_index(self) -> Tuple[np.ndarray, ...]:
        """Indices of the missing entries (``np.nonzero(missing)``: time steps[, dimensions])."""
        return np.nonzero(self.missing)

    @property
    def missing_samples(self) -> np.ndarray:
        """The samples of the missing entries only, ``(num_samples, num_missing)`` in the order of
        :attr:`missing_index`."""
        return self.samples[:, self.missing]


class FixedStarts(InstanceSampler):
    """The instance sampler of given cut points (window starts), whatever the series."""

    starts: List[int] = []

    def __call__(self, ts: np.ndarray) -> np.ndarray:
        return np.asarray(self.starts, dtype=int)


def window_starts(missing_steps: np.ndarray, length: int) -> List[int]:
    """Starts of the windows of ``length`` steps covering every True of ``missing_steps`` (T,): greedily, each
    window placed so that the first missing step it has to cover sits a quarter into it, clipped to the series
    (a series shorter than a window gets one window at 0)."""
    steps = len(missing_steps)
    starts: List[int] = []
    end = 0
    for step in np.flatnonzero(missing_steps):
        if step < end:
            continue
        start = min(max(int(step) - length // 4, 0), max(steps - length, 0))
        starts.append(start)
        end = start + length
    return starts


def split_transform(input_transform: Transformation) -> Tuple[Transformation, InstanceSplitter]:
    """The predictor's transformation before its instance splitter, and the splitter."""
    steps = list(input_transform.transformations) if isinstance(input_transform, Chain) else [input_transform]
    splitters = [i for i, step in enumerate(steps) if isinstance(step, InstanceSplitter)]
    if not splitters:
        raise ValueError("the predictor's input_transform has no InstanceSplitter: cannot cut imputation windows")
    return Chain(steps[: splitters[-1]]), steps[splitters[-1]]


def imputation_model(predictor) -> torch.nn.Module:
    """The predictor's network after checking that it was trained for imputation (else :data:`NOT_IMPUTATION`)."""
    net = getattr(predictor, "prediction_net", None)
    model = getattr(net, "model", None)
    if model is None:
        raise ValueError(f"impute needs a gluonts-diffusion predictor, got {type(predictor).__name__}")
    if not getattr(model, "imputation", False):
        raise ValueError(NOT_IMPUTATION)
    return net


def _as_entry(entry: Dict[str, Any], freq: Optional[str]) -> Tuple[Dict[str, Any], np.ndarray]:
    """``entry`` with a Period start and its target as float32 with NaN for every non-finite value."""
    target = np.asarray(entry[FieldName.TARGET], dtype=np.float32)
    target = np.where(np.isfinite(target), target, np.float32(np.nan))
    start = entry[FieldName.START]
    if not isinstance(start, pd.Period):
        start = pd.Period(start, freq)
    return {**entry, FieldName.START: start, FieldName.TARGET: target}, target


def _windows(
    entry: Dict[str, Any], target: np.ndarray, transform: Transformation, splitter: InstanceSplitter
) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """``(start, instance)`` of every imputation window of one entry (its target right-padded with NaN to one
    window when shorter)."""
    length = splitter.future_length
    missing_steps = np.isnan(target) if target.ndim == 1 else np.isnan(target).any(axis=0)
    starts = window_starts(missing_steps, length)
    if not starts:
        return
    short = length - target.shape[-1]
    if short > 0:
        pad = np.full((*target.shape[:-1], short), np.nan, dtype=np.float32)
        entry = {**entry, FieldName.TARGET: np.concatenate([target, pad], axis=-1)}
    cutter = InstanceSplitter(**{**splitter.__init_args__, "instance_sampler": FixedStarts(starts=starts)})
    instances = cutter.apply(transform.apply([entry], is_train=False), is_train=True)
    yield from zip(starts, instances)


def _sample(net: torch.nn.Module, instances: List[Dict[str, Any]], num_samples: int, generator, device) -> np.ndarray:
    """Samples ``(batch, num_samples, prediction_length[, dim])`` of a batch of window instances."""
    # a window's inputs are those of a training window; its observed values are the given ones
    names = net.model.describe_inputs(stage="training")
    batch = {name: torch.as_tensor(np.stack([x[name] for x in instances])).to(device) for name in names}
    known = batch.pop("future_observed_values")
    with torch.no_grad():
        samples = net(**batch, num_parallel_samples=num_samples, generator=generator, future_known=known)
    return samples.cpu().numpy()


def _generator(seed: Optional[int], generator: Optional[torch.Generator], device) -> Optional[torch.Generator]:
    if seed is not None and generator is not None:
        raise ValueError("give impute a seed or a generator, not both")
    if seed is None:
        return generator
    return torch.Generator(device=device).manual_seed(check_int("seed", seed, 0))


def impute(
    predictor,
    dataset: Iterable[Dict[str, Any]],
    num_samples: int = 100,
    *,
    seed: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
) -> List[SampleImputation]:
    """One :class:`SampleImputation` per entry of ``dataset`` (target ``(T,)`` or ``(dim, T)``): ``num_samples``
    paths of the whole series, the observed values copied into every path, the missing ones sampled by the
    model of ``predictor`` (trained with ``imputation: true``; else ``ValueError``: :data:`NOT_IMPUTATION`).

    ``seed`` (or a ``torch.Generator``) fixes the samples for a given dataset and ``predictor.batch_size``;
    without either, torch's global generator is used. A series without missing values costs no network call.
    A post-hoc calibration of the forecasts (``output_transform``) is not applied to imputations. Each window is
    scaled by its observed history and its observed values together, so gaps at the very start of a series (no
    history) still get a sound scale.
    """
    net = imputation_model(predictor)
    num_samples = check_int("num_samples", num_samples, 1)
    device = torch.device(getattr(predictor, "device", "cpu"))
    rng = _generator(seed, generator, device)
    transform, splitter = split_transform(predictor.input_transform)
    freq = getattr(predictor, "freq", None)
    entries, paths, covered = [], [], []  # per entry: (entry, missing), paths, the step its windows reach
    queue: List[Tuple[int, int, Dict[str, Any]]] = []
    net.eval()

    def flush() -> None:
        samples = _sample(net, [x for _, _, x in queue], num_samples, rng, device)
        for (index, start, _), window in zip(queue, samples):
            covered[index] = _fill(paths[index], entries[index][1], max(start, covered[index]), start, window)
        queue.clear()

    for index, raw in enumerate(dataset):
        entry, target = _as_entry(raw, freq)
        entries.append((entry, np.isnan(target).T))
        values = np.nan_to_num(target, nan=0.0).T  # (T[, dim])
        paths.append(np.repeat(values[None], num_samples, axis=0))
        covered.append(0)
        for start, instance in _windows(entry, target, transform, splitter):
            queue.append((index, start, instance))
            if len(queue) == predictor.batch_size:
                flush()
    if queue:
        flush()
    return [
        SampleImputation(path, entry[FieldName.START], missing, item_id=entry.get(FieldName.ITEM_ID))
        for (entry, missing), path in zip(entries, paths)
    ]


def _fill(path: np.ndarray, missing: np.ndarray, first: int, start: int, window: np.ndarray) -> int:
    """Write the samples ``window`` (S, length[, dim]) of the window at ``start`` into the missing entries of
    ``path`` (S, T[, dim]) from step ``first`` on (the steps before belong to an earlier window); returns the
    step after the window."""
    stop = min(start + window.shape[1], path.shape[1])
    part = missing[first:stop]
    path[:, first:stop] = np.where(part[None], window[:, first - start : stop - start], path[:, first:stop])
    return stop
