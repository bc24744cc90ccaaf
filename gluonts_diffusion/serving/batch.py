"""Batch prediction over GluonTS JSON lines, streamed: lines in, one JSON line per forecast out.

Memory holds one batch of series at a time (the predictor's ``batch_size``). Bad rows are reported with their
line number and skipped or fatal (:class:`Report`); the local loop here and the Ray engine
(:mod:`gluonts_diffusion.serving.ray_engine`) write through the same :class:`Report` and give the same lines.
"""

import gzip
import io
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any, Dict, Iterator, Literal, Optional, Sequence, Tuple

from gluonts import json
from tqdm import tqdm

from gluonts_diffusion.model.predictor import DiffusionPredictor

from .entries import BadRow, entry_from_row, forecast_to_dict, parse_row

OnError = Literal["skip", "fail"]


class RowError(ValueError):
    """A bad input row under ``on_error="fail"``; the message is ``SOURCE:LINE: reason``."""


@dataclass
class Options:
    """What to forecast and write: ``num_samples`` paths, the ``quantiles``, the ``samples`` if asked,
    seeded per series when ``seed`` is given (see :meth:`DiffusionPredictor.predict`)."""

    num_samples: int = 100
    quantiles: Sequence[float] = (0.1, 0.5, 0.9)
    samples: bool = False
    seed: Optional[int] = None


@dataclass
class Report:
    """Writes forecast lines to ``out`` and bad rows (``SOURCE:LINE: reason``) to stderr, with a progress bar
    on stderr when it is a terminal."""

    out: IO[str]
    source: str
    on_error: OnError = "skip"
    written: int = 0
    skipped: int = 0
    bar: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.bar = tqdm(unit=" series", file=sys.stderr, disable=not sys.stderr.isatty())

    def bad_row(self, line_number: int, reason: str) -> None:
        message = f"{self.source}:{line_number}: {reason}"
        if self.on_error == "fail":
            raise RowError(message)
        self.skipped += 1
        tqdm.write(f"{message} (skipped)", file=sys.stderr)

    def forecast(self, line: str) -> None:
        self.out.write(line + "\n")
        self.written += 1
        self.bar.update()

    def close(self) -> None:
        self.bar.close()


def read_lines(path: str) -> Iterator[Tuple[int, bytes]]:
    """``(line number from 1, line)`` of a JSON lines file, a ``.gz`` one, or stdin for ``-``."""
    with _open_input(path) as stream:
        yield from enumerate(stream, start=1)


@contextmanager
def _open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
    elif path.endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    else:
        with open(path, "rb", buffering=io.DEFAULT_BUFFER_SIZE * 64) as stream:
            yield stream


@contextmanager
def open_output(path: Optional[str]) -> Iterator[IO[str]]:
    """The output stream: stdout for ``None`` or ``-``, a gzip file for ``.gz``, else a text file."""
    if path in (None, "-"):
        yield sys.stdout
    elif path.endswith(".gz"):  # type: ignore[union-attr]
        with gzip.open(path, "wt", encoding="utf-8") as stream:  # type: ignore[arg-type]
            yield stream  # type: ignore[misc]
    else:
        with open(path, "w", encoding="utf-8") as stream:  # type: ignore[arg-type]
            yield stream


def checked_entries(lines, freq: str, target_dim: int, report: Report) -> Iterator[Dict[str, Any]]:
    """The data entries of the good rows of ``lines``; bad rows go to ``report`` (blank lines are ignored)."""
    for number, line in lines:
        if not line.strip():
            continue
        try:
            yield entry_from_row(parse_row(line), freq, target_dim)
        except BadRow as err:
            report.bad_row(number, str(err))


def forecast_lines(predictor: DiffusionPredictor, entries, options: Options) -> Iterator[str]:
    """One JSON line per forecast of ``entries`` (lazily, a batch at a time)."""
    forecasts = predictor.predict(entries, num_samples=options.num_samples, seed=options.seed)
    for forecast in forecasts:
        yield json.dumps(forecast_to_dict(forecast, options.quantiles, options.samples))


def predict_file(predictor: DiffusionPredictor, source: str, report: Report, options: Options) -> None:
    """Forecast every good row of ``source`` (a path, ``.gz`` or ``-``) into ``report``."""
    target_dim = predictor.target_dim
    entries = checked_entries(read_lines(source), _freq(predictor), target_dim, report)
    for line in forecast_lines(predictor, entries, options):
        report.forecast(line)


def _freq(predictor: DiffusionPredictor) -> str:
    if predictor.freq is None:
        raise ValueError("the predictor was saved without its freq: pass --freq, or serialize it again")
    return predictor.freq
