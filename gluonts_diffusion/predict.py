"""``python -m gluonts_diffusion.predict --model DIR --input FILE [--output FILE] [options]``.

Forecasts every series of a GluonTS JSON lines file (plain, ``.gz``, or ``-`` for stdin) with a saved predictor
and writes one JSON line per series: ``item_id``, ``start`` (the first forecast period), ``mean``, ``quantiles``
(and ``samples`` with ``--samples``). Streams a batch at a time; a bad row is reported on stderr as
``FILE:LINE: reason`` and skipped, or ends the command with exit code 2 under ``--on-error fail``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import List, Optional


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gluonts_diffusion.predict", description=__doc__.split("\n\n")[1])
    parser.add_argument("--model", required=True, help="folder of a saved predictor (predictor.serialize(path))")
    parser.add_argument("--input", required=True, help="GluonTS JSON lines: a file, a .gz file, or - for stdin")
    parser.add_argument("--output", help="where to write the forecasts (.gz compresses; default stdout)")
    parser.add_argument("--num-samples", type=int, default=100, help="sample paths per series (default 100)")
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.1, 0.5, 0.9], help="levels to write")
    parser.add_argument("--samples", action="store_true", help="also write the sample paths")
    parser.add_argument("--on-error", choices=["skip", "fail"], default="skip", help="a bad row: skip it or stop")
    parser.add_argument("--seed", type=int, help="seed every series' sampling: the same seed gives the same output")
    parser.add_argument("--batch-size", type=int, help="series per batch (default: the predictor's)")
    parser.add_argument("--freq", help="only for predictors saved before their freq was recorded")
    parser.add_argument("--engine", choices=["local", "ray"], default="local", help="run here, or on Ray")
    parser.add_argument("--address", help="Ray cluster address (default: a running or a new local Ray)")
    parser.add_argument("--num-workers", type=int, default=2, help="Ray actors, each loading the model once")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.num_samples < 1:
        parser.error(f"--num-samples must be >= 1, got {args.num_samples}")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.num_workers < 1:
        parser.error(f"--num-workers must be >= 1, got {args.num_workers}")
    bad = [q for q in args.quantiles if not 0.0 < q < 1.0]
    if bad:
        parser.error(f"--quantiles must lie strictly between 0 and 1, got {bad}")
    if args.engine == "local" and args.address:
        parser.error("--address needs --engine ray")


def quiet_warnings() -> None:
    """Keep stderr for bad rows and errors: no pandas/GluonTS deprecation or json-speed notices per row."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="Using `json`-module")


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    quiet_warnings()
    from gluonts_diffusion.model.predictor import MissingPredictorFile, SavedPredictorError, load_predictor
    from gluonts_diffusion.serving.batch import Options, Report, RowError, open_output

    options = Options(args.num_samples, tuple(args.quantiles), args.samples, args.seed)
    try:
        predictor = load_predictor(args.model)
        predictor.freq = args.freq or predictor.freq
        predictor.batch_size = args.batch_size or predictor.batch_size
        with open_output(args.output) as out:
            report = Report(out, "<stdin>" if args.input == "-" else args.input, args.on_error)
            try:
                _run(args, predictor, report, options)
            finally:
                report.close()
    except (MissingPredictorFile, SavedPredictorError, RowError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{report.written} forecasts written, {report.skipped} bad rows skipped", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace, predictor, report, options) -> None:
    if args.engine == "ray":
        from gluonts_diffusion.serving.ray_engine import predict_ray

        predict_ray(
            args.model,
            args.input,
            report,
            options,
            freq=args.freq,
            address=args.address,
            num_workers=args.num_workers,
            batch_size=predictor.batch_size,
        )
    else:
        from gluonts_diffusion.serving.batch import predict_file

        predict_file(predictor, args.input, report, options)


if __name__ == "__main__":
    sys.exit(main())
