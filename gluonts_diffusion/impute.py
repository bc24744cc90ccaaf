"""``python -m gluonts_diffusion.impute --model DIR --input FILE --output FILE [options]``.

Fills the missing values (``null``, ``"NaN"``) of every series of a GluonTS JSON lines file with a saved predictor
trained with ``imputation: true``, and writes one JSON line per series: ``item_id``, ``start``, ``mean`` and
``quantiles`` (``{"0.1": [...], ...}``) of the whole series, in the input's layout (``T`` values, or ``dim``
lists of ``T``), with the observed values unchanged, and ``imputed``: the indices of the filled entries
(time steps, or ``[dimension, time step]`` pairs). A missing model, a bad row or a predictor that cannot impute
ends the command with one line on stderr (exit status 1; 2 for bad arguments).

The module is also callable: ``gluonts_diffusion.impute(predictor, dataset, num_samples=100)`` is
:func:`gluonts_diffusion.model.imputation.impute`, whether or not this module has been imported (importing
it binds the package attribute ``impute`` to the module).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List, Optional, Sequence

from gluonts_diffusion.cli import callable_as

callable_as(__name__, "gluonts_diffusion.model.imputation:impute")


def quantile_levels(text: str) -> List[float]:
    """``"0.1,0.5,0.9"`` (or one level) -> ``[0.1, 0.5, 0.9]``; each level in (0, 1) (argparse type)."""
    try:
        levels = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not levels or not all(0.0 < q < 1.0 for q in levels):
        raise argparse.ArgumentTypeError(f"quantile levels must lie in (0, 1), got {text!r}")
    return levels


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gluonts_diffusion.impute", description=__doc__.split("\n\n")[1])
    parser.add_argument("--model", required=True, help="folder of a saved predictor trained with imputation: true")
    parser.add_argument("--input", required=True, help="GluonTS JSON lines: {start, target[, item_id]} per line")
    parser.add_argument("--output", required=True, help="JSON lines file to write, one line per input series")
    parser.add_argument("--num-samples", type=int, default=100, help="sample paths per series (default 100)")
    parser.add_argument("--seed", type=int, help="seed of the sampling (default: unseeded)")
    parser.add_argument(
        "--quantiles",
        type=quantile_levels,
        nargs="+",
        default=[[0.1, 0.5, 0.9]],
        help="levels written, space- (as predict's) or comma-separated (default 0.1 0.5 0.9)",
    )
    return parser


def read_entries(path: str, freq: str, target_dim: int) -> List[Dict[str, Any]]:
    """The data entries of a JSON lines file (blank lines skipped); a bad row raises ``ValueError`` naming
    its line."""
    from gluonts_diffusion.serving.batch import read_lines
    from gluonts_diffusion.serving.entries import BadRow, entry_from_row, parse_row

    entries = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            entries.append(entry_from_row(parse_row(line), freq, target_dim))
        except BadRow as err:
            raise ValueError(f"{path} line {number}: {err}") from None
    return entries


def imputation_to_dict(imputation, quantiles: Sequence[float]) -> Dict[str, Any]:
    """The JSON-able output line of one :class:`~gluonts_diffusion.model.imputation.SampleImputation`: the
    serving format of a forecast over the whole series, in the input's layout (``(T,)`` or ``(dim, T)``), and
    ``imputed``, the indices of the filled entries."""
    import numpy as np

    from gluonts_diffusion.serving.entries import forecast_to_dict

    out = forecast_to_dict(imputation, quantiles)
    if imputation.mean.ndim == 2:  # forecasts are (T, dim), the input (dim, T)
        out["mean"] = np.transpose(out["mean"]).tolist()
        out["quantiles"] = {key: np.transpose(values).tolist() for key, values in out["quantiles"].items()}
    steps = imputation.missing_index
    out["imputed"] = steps[0].tolist() if len(steps) == 1 else [[int(d), int(t)] for t, d in zip(*steps)]
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.quantiles = [level for group in args.quantiles for level in group]
    if args.num_samples < 1:
        parser.error(f"--num-samples must be >= 1, got {args.num_samples}")
    from gluonts import json

    from gluonts_diffusion.data.checks import DataError
    from gluonts_diffusion.model.imputation import impute
    from gluonts_diffusion.model.predictor import SavedPredictorError, load_predictor

    try:
        predictor = load_predictor(args.model)
        entries = read_entries(args.input, predictor.freq, predictor.target_dim)
        imputations = impute(predictor, entries, num_samples=args.num_samples, seed=args.seed)
    except (SavedPredictorError, FileNotFoundError, ValueError, DataError) as err:
        print(f"impute failed: {err}", file=sys.stderr)
        return 1
    with open(args.output, "w") as out:
        for imputation in imputations:
            out.write(json.dumps(imputation_to_dict(imputation, args.quantiles)) + "\n")
    filled = sum(int(imputation.missing.sum()) for imputation in imputations)
    print(f"imputed {filled} values of {len(imputations)} series: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
