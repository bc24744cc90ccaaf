"""Imputation benchmark: one diffusion model trained with ``imputation: true`` against point imputers, and how much
its forecasts suffer from gaps in the history (a script, not a test).

    OMP_NUM_THREADS=1 python evaluation/bench_imputation.py --dataset m4_hourly --dataset-path ../shared/datasets

Each training series of the dataset is split in time: the model (the quickstart config with ``imputation: true``,
``--epochs`` x ``--batches`` batches) trains on all but its last ``--length`` steps, with the last window of that
part held out to choose the checkpoint (validation loss; the test split is not read for training or choosing).
In the last ``--length`` steps of the first ``--max-series`` series, unseen in training, a fixed seed removes 10%
and 50% of the values (the history before them stays whole), as random points and as blocks of a day (24 steps hourly; a season, 5 steps, for business
days); every method fills them and is scored on the removed values only:

* CRPS: the sample CRPS (properscoring) of the model's paths, the absolute error of a point imputer, summed over
  the removed values and divided by the sum of their absolute values (the normalisation of ``sample_CRPS``);
* MAE: absolute error of the model's median / of the point imputer, normalised the same way.

Point imputers: linear interpolation, a seasonal fill (the value one season back, else forward, ``k`` seasons out;
``get_seasonality(freq)``), GluonTS's ``DummyValueImputation`` (0), ``LastValueImputation`` and
``CausalMeanValueImputation``. Forecasting: CRPS (``mean_wQuantileLoss``, the package's ``score``) on the test
split of the same series, gap-free and with 10% random points removed from the history, for the model and
GluonTS's ``SeasonalNaivePredictor``. Prints a table and writes ``evaluation/results/imputation_<dataset>.md``.

``--anchor`` sets the model's ``imputation`` option (``bridge`` = ``true``, ``linear``, ``none``); ``--select-on
validation`` first cuts the last ``--length`` steps off every training series, so all of the above happens on
training data only (no forecasting table): for choosing between options without reading the test split.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import numpy as np
import pandas as pd
from common import QUICKSTART, config_estimator, quiet_trainer, train_timed

import gluonts_diffusion
from gluonts_diffusion.data.datasets import ForecastData, load_dataset
from gluonts_diffusion.data.validation import validation_split
from gluonts_diffusion.experiments.scoring import score

RESULTS = Path(__file__).resolve().parent / "results"
FRACTIONS = (0.1, 0.5)
PATTERNS = ("points", "blocks")


def block_length(freq: str) -> int:
    """Steps in a day for sub-daily data, else one season (5 business days, 7 days)."""
    from gluonts.time_feature import get_seasonality
    from pandas.tseries.frequencies import to_offset

    try:
        steps = int(pd.Timedelta("1D") // pd.Timedelta(to_offset(freq)))
    except (ValueError, TypeError):
        steps = 1
    return steps if steps > 1 else get_seasonality(freq)


def removal_mask(values: np.ndarray, fraction: float, pattern: str, block: int, rng) -> np.ndarray:
    """Bool (T,): ``fraction`` of the observed values of ``values`` to remove, as random points or blocks."""
    observed = np.flatnonzero(np.isfinite(values))
    count = int(round(fraction * len(observed)))
    removed = np.zeros(len(values), dtype=bool)
    if pattern == "points":
        removed[rng.choice(observed, size=count, replace=False)] = True
        return removed
    while (removed & np.isfinite(values)).sum() < count:
        start = int(rng.integers(0, max(len(values) - block, 0) + 1))
        removed[start : start + block] = True
    return removed & np.isfinite(values)


def tail_mask(values: np.ndarray, length: int, fraction: float, pattern: str, block: int, rng) -> np.ndarray:
    """:func:`removal_mask` of the last ``length`` steps of ``values`` (nothing removed before them)."""
    head = np.zeros(max(len(values) - length, 0), dtype=bool)
    return np.concatenate([head, removal_mask(values[-length:], fraction, pattern, block, rng)])


def linear_fill(values: np.ndarray) -> np.ndarray:
    known = np.isfinite(values)
    steps = np.arange(len(values))
    return np.interp(steps, steps[known], values[known])


def seasonal_fill(season: int) -> Callable[[np.ndarray], np.ndarray]:
    def fill(values: np.ndarray) -> np.ndarray:
        out = values.copy()
        known = np.isfinite(values)
        for step in np.flatnonzero(~known):
            for k in range(1, len(values) // season + 2):
                near = [i for i in (step - k * season, step + k * season) if 0 <= i < len(values) and known[i]]
                if near:
                    out[step] = values[near[0]]
                    break
        return np.where(np.isfinite(out), out, linear_fill(values))  # no value any season away: interpolate

    return fill


def point_imputers(freq: str) -> Dict[str, Callable[[np.ndarray], np.ndarray]]:
    from gluonts.time_feature import get_seasonality
    from gluonts.transform.feature import CausalMeanValueImputation, DummyValueImputation, LastValueImputation

    return {
        "linear": linear_fill,
        "seasonal": seasonal_fill(get_seasonality(freq)),
        "DummyValue": DummyValueImputation(),
        "LastValue": LastValueImputation(),
        "CausalMean": CausalMeanValueImputation(),
    }


def score_removed(paths: np.ndarray, truth: np.ndarray) -> Tuple[float, float]:
    """``(sum of sample CRPS, sum of absolute errors of the median)`` of paths ``(S, n)`` at ``truth`` (n,)."""
    import properscoring as ps

    crps = ps.crps_ensemble(truth, paths.T)
    return float(np.sum(crps)), float(np.sum(np.abs(np.median(paths, axis=0) - truth)))


def imputation_scores(predictor, series: List[dict], freq: str, args) -> Dict[Tuple[str, float], Dict[str, tuple]]:
    """``{(pattern, fraction): {method: (CRPS, MAE)}}`` over the removed values of ``series``."""
    block, imputers = block_length(freq), point_imputers(freq)
    results = {}
    for pattern in PATTERNS:
        for fraction in FRACTIONS:
            rng = np.random.default_rng(args.seed)
            masks = [tail_mask(entry["target"], args.length, fraction, pattern, block, rng) for entry in series]
            gappy = [{**e, "target": np.where(m, np.nan, e["target"])} for e, m in zip(series, masks)]
            sums: Dict[str, np.ndarray] = {}
            scale = sum(float(np.abs(e["target"][m]).sum()) for e, m in zip(series, masks))
            start = time.perf_counter()
            filled = gluonts_diffusion.impute(predictor, gappy, num_samples=args.num_samples, seed=args.seed)
            seconds = time.perf_counter() - start
            for entry, mask, gap, imputation in zip(series, masks, gappy, filled):
                truth = entry["target"][mask]
                add(sums, "model", score_removed(imputation.samples[:, mask], truth))
                for name, imputer in imputers.items():
                    add(sums, name, score_removed(imputer(gap["target"].copy())[None, mask], truth))
            results[(pattern, fraction)] = {name: tuple(v / max(scale, 1e-12)) for name, v in sums.items()}
            results[(pattern, fraction)]["seconds"] = (seconds, float(sum(m.sum() for m in masks)))
            print(pattern, fraction, {k: np.round(v, 4).tolist() for k, v in results[(pattern, fraction)].items()})
    return results


def add(sums: Dict[str, np.ndarray], name: str, value: Tuple[float, float]) -> None:
    sums[name] = sums.get(name, np.zeros(2)) + np.asarray(value)


def forecast_scores(predictor, data, args) -> Dict[str, Dict[str, float]]:
    """``{model: {"gap-free": CRPS, "10% gaps": CRPS}}`` on the test split of the capped series."""
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor
    from gluonts.time_feature import get_seasonality

    naive = SeasonalNaivePredictor(prediction_length=data.prediction_length, season_length=get_seasonality(data.freq))
    rng = np.random.default_rng(args.seed)
    gappy = []
    for entry in data.test:
        history = np.asarray(entry["target"], dtype=np.float32)
        mask = removal_mask(history[: -data.prediction_length], 0.1, "points", 1, rng)
        mask = np.concatenate([mask, np.zeros(data.prediction_length, dtype=bool)])
        gappy.append({**entry, "target": np.where(mask, np.nan, history)})
    out = {}
    for name, model in (("model", predictor), ("SeasonalNaive", naive)):
        out[name] = {
            label: score(model, test, args.num_samples, args.seed)[0]["mean_wQuantileLoss"]
            for label, test in (("gap-free", data.test), ("10% gaps", gappy))
        }
    print("forecasting CRPS", out)
    return out


def without_last(entries: List[dict], steps: int) -> List[dict]:
    """``entries`` as float32 without the last ``steps`` steps of each target."""
    return [{**e, "target": np.asarray(e["target"], dtype=np.float32)[..., :-steps]} for e in entries]


def train_model(data, args, root: str):
    """The imputation model trained on every training series but its last ``args.length`` steps; seconds."""
    head = without_last(data.train, args.length)
    split = validation_split(
        [e for e in head if e["target"].shape[-1] > data.prediction_length], data.prediction_length
    )
    estimator = config_estimator(
        args.config,
        args.dataset_path,
        data,
        imputation=args.anchor,
        num_batches_per_epoch=args.batches,
        trainer_kwargs=quiet_trainer(args.epochs, root, accelerator="cpu", enable_model_summary=False),
    )
    return train_timed(estimator, split.train, validation_data=split.validation)


def held_out_series(data, max_series: int) -> List[dict]:
    """The first ``max_series`` training series as float32 entries (their last ``--length`` steps unseen in
    training; only there are values removed)."""
    return [{**e, "target": np.asarray(e["target"], dtype=np.float32)} for e in data.train[:max_series]]


def anchor_argument(text: str):
    """``--anchor``: true / false, or an anchor name (``DiffusionEstimator``'s ``imputation`` option)."""
    return {"true": True, "false": False}.get(text.lower(), text)  # (argparse passes the default True as is)


def write_table(name: str, imputed, forecasts, seconds: float, args) -> str:
    methods = ["model", *point_imputers("H")]
    lines = [
        f"# Imputation on {name}\n",
        f"`OMP_NUM_THREADS=1 python evaluation/bench_imputation.py --dataset {name} --max-series {args.max_series} "
        f"--length {args.length} --epochs {args.epochs} --batches {args.batches} --num-samples {args.num_samples} "
        f"--seed {args.seed} --anchor {str(args.anchor).lower()} --select-on {args.select_on}`; training "
        f"{seconds:.0f} s on one thread of a shared 2-core CPU (busy).\n",
        "CRPS / MAE on the removed values (each over the sum of their |values|); lower is better.\n",
        "| gaps | " + " | ".join(methods) + " | model impute s (values) |",
        "|---|" + "---|" * (len(methods) + 1),
    ]
    for (pattern, fraction), row in imputed.items():
        cells = " | ".join(f"{row[m][0]:.4f} / {row[m][1]:.4f}" for m in methods)
        lines.append(f"| {fraction:.0%} {pattern} | {cells} | {row['seconds'][0]:.0f} ({row['seconds'][1]:.0f}) |")
    if not forecasts:
        return "\n".join(lines) + "\n"
    lines += ["", "Forecasting CRPS (mean_wQuantileLoss) on the test split of the same series:", ""]
    lines += ["| model | gap-free | 10% random gaps in the history | ratio |", "|---|---|---|---|"]
    for model, row in forecasts.items():
        ratio = row["10% gaps"] / row["gap-free"]
        lines.append(f"| {model} | {row['gap-free']:.4f} | {row['10% gaps']:.4f} | {ratio:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="m4_hourly")
    parser.add_argument("--dataset-path")
    parser.add_argument("--config", default=QUICKSTART)
    parser.add_argument("--max-series", type=int, default=20, help="series imputed and forecast (training: all)")
    parser.add_argument("--length", type=int, default=240, help="steps of each series' end held out and imputed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batches", type=int, default=30, help="batches per epoch")
    parser.add_argument("--num-samples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--anchor", default=True, type=anchor_argument, help="the imputation option (default: true)")
    parser.add_argument(
        "--select-on",
        choices=["test", "validation"],
        default="test",
        help="validation: every training series loses its last --length steps first, so the values removed and "
        "imputed are training data the model did not see, and the test split is never read (no forecasting table)",
    )
    parser.add_argument("--output", help="Markdown file (default evaluation/results/imputation_<dataset>.md)")
    args = parser.parse_args(argv)
    path = Path(args.dataset_path) if args.dataset_path else None
    data = load_dataset(args.dataset, path, with_test=args.select_on == "test")
    if args.select_on == "validation":
        data = ForecastData(data.name, without_last(data.train, args.length), [], data.freq, data.prediction_length)
    with tempfile.TemporaryDirectory() as root:
        predictor, seconds = train_model(data, args, root)
    print(f"trained in {seconds:.0f} s")
    imputed = imputation_scores(predictor, held_out_series(data, args.max_series), data.freq, args)
    forecasts = {}
    if args.select_on == "test":
        forecasts = forecast_scores(predictor, load_dataset(args.dataset, path, max_series=args.max_series), args)
    table = write_table(args.dataset, imputed, forecasts, seconds, args)
    print(table)
    Path(args.output or RESULTS / f"imputation_{args.dataset}.md").write_text(table)


if __name__ == "__main__":
    main()
