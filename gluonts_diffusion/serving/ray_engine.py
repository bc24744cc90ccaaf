"""Batch prediction on Ray: the predictor mapped over a Ray Dataset of JSON lines by a pool of actors.

The recipe (``pip install ".[ray]"``)::

    ds = ray.data.read_text(path, drop_empty_lines=False)          # one row per input line, in order
    ds = ds.map_batches(Forecaster, fn_constructor_kwargs={...},    # each actor loads the predictor once
                        batch_size=64, concurrency=num_workers)
    for row in ds.iter_rows(): ...                                 # {"output": JSON line or "", "error": reason or ""}

Forecasts are those of the local command for the same seed: every series is sampled with its own generator,
seeded from the seed and the series (:func:`~gluonts_diffusion.model.predictor.series_seed`), so neither the
batches Ray cuts nor the worker that runs them change a forecast. Rows come back in input order
(``preserve_order``), so bad rows are reported with their line numbers as locally.
"""

import logging
from typing import Any, Dict, List, Optional

import numpy as np

from gluonts_diffusion.model.predictor import load_predictor

from .batch import Options, Report, forecast_lines
from .entries import BadRow, entry_from_row, parse_row


class Forecaster:
    """A Ray actor's callable: loads the predictor in ``model`` once, then forecasts batches of lines."""

    def __init__(self, model: str, options: Options, freq: Optional[str] = None) -> None:
        self.predictor = load_predictor(model)
        self.freq = freq or self.predictor.freq
        self.target_dim = self.predictor.target_dim
        self.options = options

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        lines = batch["text"]
        outputs, errors = [""] * len(lines), [""] * len(lines)
        entries: List[Dict[str, Any]] = []
        rows: List[int] = []
        for i, line in enumerate(lines):
            if not str(line).strip():
                continue
            try:
                entries.append(entry_from_row(parse_row(line), self.freq, self.target_dim))  # type: ignore[arg-type]
                rows.append(i)
            except BadRow as err:
                errors[i] = str(err)
        for i, line in zip(rows, forecast_lines(self.predictor, entries, self.options)):
            outputs[i] = line
        return {"output": np.array(outputs, dtype=object), "error": np.array(errors, dtype=object)}


def predict_ray(
    model: str,
    source: str,
    report: Report,
    options: Options,
    freq: Optional[str] = None,
    address: Optional[str] = None,
    num_workers: int = 2,
    batch_size: int = 64,
) -> None:
    """Forecast every good row of the JSON lines file ``source`` (plain or ``.gz``) on Ray into ``report``,
    with ``num_workers`` actors (connecting to ``address``, else to a running or a new local Ray)."""
    try:
        import ray
    except ImportError:
        raise ValueError('--engine ray needs Ray: pip install "gluonts-diffusion[ray]"') from None
    if source == "-":
        raise ValueError("--engine ray reads files that every worker can reach, not stdin")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # rows come back in input order: line numbers hold
    context.enable_progress_bars = False
    stream_args = {"compression": "gzip"} if source.endswith(".gz") else {}
    dataset = ray.data.read_text(  # reading takes no CPU slot: the actors hold one each
        source, drop_empty_lines=False, arrow_open_stream_args=stream_args, ray_remote_args={"num_cpus": 0}
    )
    forecasts = dataset.map_batches(
        Forecaster,
        fn_constructor_kwargs={"model": model, "options": options, "freq": freq},
        batch_size=batch_size,
        concurrency=num_workers,
        batch_format="numpy",
    )
    for number, row in enumerate(forecasts.iter_rows(), start=1):
        if row["error"]:
            report.bad_row(number, row["error"])
        elif row["output"]:
            report.forecast(row["output"])
