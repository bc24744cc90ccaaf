"""Leaderboards: every config x dataset x seed and the GluonTS baselines, on identical splits.

:func:`compare` is what ``python -m gluonts_diffusion.compare`` runs. Layout of the output folder::

    runs/<model>__<dataset>__seed<k>.json   one file per finished (or failed) run, written as it ends
    artifacts/<run id>/                     predictor, logs and checkpoints of that run
    plots/<model>__<dataset>.png            fan charts of a few series (first seed)
    leaderboard.md / .csv / .json           mean +- std over seeds, ranked by CRPS within each dataset
    crps.png                                CRPS bar chart

Identical splits: every run on a dataset uses the same ``data.predict_len``, ``data.max_series``,
``evaluation.num_series`` and ``evaluation.num_samples`` (those of the first config on that dataset,
the *reference*); the baselines also take its training budget (epochs, batches, batch size, context).
``resume=True`` skips every run whose file says ``ok`` for the same effective config; failed runs
are retried. A run that raises is written with ``status: failed`` and its error; the others go on.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import math
import re
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .base import apply_overrides, experiment_class, in_process
from .config import load_config, validate_config

logger = logging.getLogger(__name__)

#: leaderboard columns: (key in a run record's metrics, header); CRPS = mean_wQuantileLoss ranks the table
METRIC_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("mean_wQuantileLoss", "CRPS"),
    ("sample_CRPS", "sample CRPS"),
    ("MASE", "MASE"),
    ("sMAPE", "sMAPE"),
    ("ND", "ND"),
    ("NRMSE", "NRMSE"),
    ("coverage_50", "cov 50%"),
    ("coverage_90", "cov 90%"),
    ("train_seconds", "train s"),
    ("sample_seconds_per_series", "sample s/series"),
)
RANK_METRIC = "mean_wQuantileLoss"

#: the data and evaluation keys every run on one dataset shares
SPLIT_DATA_KEYS = ("predict_len", "max_series", "freq")
SPLIT_EVALUATION_KEYS = ("num_series", "num_samples")

#: network evaluations per forecast of the baselines (None: no network)
BASELINE_NFE = {"seasonal_naive": None, "simple_feedforward": 1, "patch_tst": 1, "deepar": "prediction_length"}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "run"


def _hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class RunSpec:
    """One cell of the leaderboard: a model (config or baseline) on a dataset with a seed."""

    model: str
    kind: str  # "config" or "baseline"
    source: str  # config file or baseline name
    dataset: str
    seed: int
    config: Dict[str, Any]  # effective config (a baseline: the dataset's reference config)

    @property
    def run_id(self) -> str:
        return f"{_slug(self.model)}__{_slug(self.dataset)}__seed{self.seed}"

    @property
    def config_hash(self) -> str:
        return _hash(
            {"kind": self.kind, "source": self.source if self.kind == "baseline" else "", "config": self.config}
        )


@dataclass
class Leaderboard:
    """The aggregated table (``rows``), the raw run records and the files written."""

    rows: List[Dict[str, Any]]
    records: List[Dict[str, Any]]
    splits: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    paths: Dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> List[Dict[str, Any]]:
        return [r for r in self.records if r.get("status") != "ok"]


# ---------------------------------------------------------------------------------------------- planning
def _model_names(configs: Sequence[Tuple[str, Dict[str, Any]]]) -> List[str]:
    names = [(cfg.get("experiment") or {}).get("name") or Path(path).stem for path, cfg in configs]
    out = []
    for (path, _), name in zip(configs, names):
        if names.count(name) > 1:
            name = f"{name}_{Path(path).stem}" if name != Path(path).stem else name
        while name in out:
            name = f"{name}_{len(out)}"
        out.append(name)
    return out


def plan_runs(
    configs: Sequence[Union[str, Path, Mapping[str, Any]]],
    datasets: Optional[Sequence[str]] = None,
    baselines: Sequence[str] = ("seasonal_naive",),
    seeds: Sequence[int] = (0,),
    debug: bool = False,
    epochs: Optional[int] = None,
    num_samples: Optional[int] = None,
) -> Tuple[List[RunSpec], Dict[str, Dict[str, Any]]]:
    """Every run of the comparison and the shared split of each dataset (its reference config)."""
    from .baselines import BASELINES

    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r}; known baselines: {', '.join(BASELINES)}")
    loaded: List[Tuple[str, Dict[str, Any]]] = []
    for i, source in enumerate(configs):
        label = str(source) if not isinstance(source, Mapping) else f"config{i}"
        config = validate_config(in_process(apply_overrides(load_config(source), debug=debug, epochs=epochs), label))
        if num_samples is not None:
            config.setdefault("evaluation", {})["num_samples"] = int(num_samples)
        loaded.append((label, config))
    names = _model_names(loaded)

    cells: List[Tuple[str, str, Dict[str, Any], str]] = []  # (model, source, config, dataset)
    for (label, config), name in zip(loaded, names):
        for dataset in datasets or [config["data"]["dataset"]]:
            cfg = copy.deepcopy(config)
            if datasets:
                cfg["data"] = {k: v for k, v in cfg["data"].items() if k not in ("predict_len", "freq")}
                cfg["data"]["dataset"] = dataset
            cells.append((name, label, cfg, dataset))

    splits: Dict[str, Dict[str, Any]] = {}
    for name, _label, cfg, dataset in cells:
        if dataset not in splits:
            splits[dataset] = {"reference": name, "config": cfg}
    specs: List[RunSpec] = []
    for dataset, split in splits.items():
        ref = split["config"]
        for name, _label, cfg, ds in cells:
            if ds != dataset:
                continue
            for key in SPLIT_DATA_KEYS:
                _share(cfg, ref, "data", key, name, dataset)
            for key in SPLIT_EVALUATION_KEYS:
                _share(cfg, ref, "evaluation", key, name, dataset)
            cfg.setdefault("evaluation", {})["baselines"] = []  # baselines are runs of their own
        baseline_config = {
            "experiment": {"name": "baseline"},
            "data": dict(ref["data"]),
            "training": dict(ref.get("training") or {}),
            "evaluation": {k: (ref.get("evaluation") or {}).get(k) for k in SPLIT_EVALUATION_KEYS},
        }
        split["baseline_config"] = baseline_config
        for seed in seeds:
            for baseline in baselines:
                cfg = copy.deepcopy(baseline_config)
                cfg["experiment"]["seed"] = int(seed)
                specs.append(RunSpec(baseline, "baseline", baseline, dataset, int(seed), cfg))
            for name, _label, cfg, ds in cells:
                if ds == dataset:
                    specs.append(RunSpec(name, "config", label, dataset, int(seed), apply_overrides(cfg, seed=seed)))
    summary = {
        dataset: {
            "reference": split["reference"],
            "data": split["config"]["data"],
            "evaluation": {k: (split["config"].get("evaluation") or {}).get(k) for k in SPLIT_EVALUATION_KEYS},
        }
        for dataset, split in splits.items()
    }
    return specs, summary


def _share(cfg: Dict[str, Any], ref: Mapping[str, Any], section: str, key: str, name: str, dataset: str) -> None:
    ref_value = (ref.get(section) or {}).get(key)
    if cfg.get(section) is None:
        cfg[section] = {}
    own = cfg[section]
    if own.get(key) != ref_value:
        if own.get(key) is not None:
            logger.warning(
                "%s on %s: %s.%s=%r replaced by the shared split's %r",
                name,
                dataset,
                section,
                key,
                own.get(key),
                ref_value,
            )
        if ref_value is None:
            own.pop(key, None)
        else:
            own[key] = ref_value


# ---------------------------------------------------------------------------------------------- running
class RunStore:
    """The ``runs/`` folder: one JSON record per run, written atomically as each run ends."""

    def __init__(self, output_dir: Path) -> None:
        self.folder = Path(output_dir) / "runs"
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, spec: RunSpec) -> Path:
        return self.folder / f"{spec.run_id}.json"

    def load(self, spec: RunSpec) -> Optional[Dict[str, Any]]:
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def write(self, record: Dict[str, Any]) -> Path:
        path = self.folder / f"{record['run_id']}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, default=_json_default))
        tmp.replace(path)
        return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _clean(metrics: Mapping[str, Any]) -> Dict[str, Optional[float]]:
    out: Dict[str, Optional[float]] = {}
    for key, value in metrics.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        out[key] = value if math.isfinite(value) else None
    return out


def _run_config(spec: RunSpec, dataset_path: Optional[Path], artifacts: Path, plots: Optional[Path]) -> Dict[str, Any]:
    from .plotting import plot_forecasts

    cls = experiment_class(spec.config)
    experiment = cls(spec.config, dataset_path=dataset_path, run_dir=artifacts)
    result = experiment.run()
    record = {
        "metrics": _clean(
            {
                **result.metrics,
                "train_seconds": result.train_seconds,
                "sample_seconds_per_series": result.sample_seconds_per_series,
            }
        ),
        "train_seconds": result.train_seconds,
        "predict_seconds": result.predict_seconds,
        "sample_seconds_per_series": result.sample_seconds_per_series,
        "num_series": result.num_series,
        "num_samples": result.num_samples,
        "nfe": result.nfe,
        "num_parameters": result.num_parameters,
        "run_dir": result.run_dir,
        "predictor_path": result.predictor_path,
    }
    if plots is not None and getattr(experiment, "forecasts", None):
        record["plot_path"] = str(
            plot_forecasts(experiment.forecasts, experiment.series, plots, title=f"{spec.model} ({spec.dataset})")
        )
    return record


def _run_baseline(
    spec: RunSpec, dataset_path: Optional[Path], artifacts: Path, plots: Optional[Path], data_cache: Dict
) -> Dict[str, Any]:
    import torch
    from lightning.pytorch import seed_everything

    from .baselines import train_baseline
    from .data import resolve_data_path
    from .evaluation import backtest, interval_coverage, sample_crps
    from .forecast import load_experiment_data
    from .plotting import plot_forecasts

    key = json.dumps([spec.dataset, spec.config["data"], spec.config.get("evaluation")], sort_keys=True, default=str)
    if key not in data_cache:
        data_cache.clear()
        data_cache[key] = load_experiment_data(
            spec.config, resolve_data_path(dataset_path, spec.config["data"].get("path"))
        )
    data = data_cache[key]
    training = spec.config.get("training") or {}
    evaluation = spec.config.get("evaluation") or {}
    num_samples = int(evaluation.get("num_samples") or 100)
    artifacts.mkdir(parents=True, exist_ok=True)
    seed_everything(spec.seed, verbose=False)
    options: Dict[str, Any] = {}
    if training.get("num_batches_per_epoch"):
        options["num_batches_per_epoch"] = int(training["num_batches_per_epoch"])
    if training.get("batch_size"):
        options["batch_size"] = int(training["batch_size"])
    if (spec.config.get("data") or {}).get("history_len"):
        options["context_length"] = int(spec.config["data"]["history_len"])
    trainer_kwargs = {
        "max_epochs": int(training.get("num_epochs") or 100),
        "default_root_dir": str(artifacts),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
    }
    for name in ("accelerator", "devices", "precision"):
        if training.get(name) is not None:
            trainer_kwargs[name] = training[name]
    start = time.perf_counter()
    predictor = train_baseline(spec.source, data, trainer_kwargs=trainer_kwargs, **options)
    train_seconds = time.perf_counter() - start
    metrics, forecasts, series, predict_seconds = backtest(
        predictor, data.test, num_samples=num_samples, seed=spec.seed, desc=spec.model
    )
    metrics.update(interval_coverage(forecasts, series))
    metrics["sample_CRPS"] = sample_crps(forecasts, series, num_samples=num_samples)
    net = getattr(predictor, "prediction_net", None)
    num_parameters = int(sum(p.numel() for p in net.parameters())) if isinstance(net, torch.nn.Module) else 0
    nfe = BASELINE_NFE.get(spec.source, 1)
    if nfe == "prediction_length":
        nfe = int(data.prediction_length)
    per_series = predict_seconds / max(len(data.test), 1)
    record = {
        "metrics": _clean({**metrics, "train_seconds": train_seconds, "sample_seconds_per_series": per_series}),
        "train_seconds": train_seconds,
        "predict_seconds": predict_seconds,
        "sample_seconds_per_series": per_series,
        "num_series": len(data.test),
        "num_samples": num_samples,
        "nfe": nfe,
        "num_parameters": num_parameters,
        "run_dir": str(artifacts),
    }
    if plots is not None:
        record["plot_path"] = str(plot_forecasts(forecasts, series, plots, title=f"{spec.model} ({spec.dataset})"))
    return record


def execute(
    specs: Sequence[RunSpec],
    output_dir: Union[str, Path],
    dataset_path: Optional[Union[str, Path]] = None,
    resume: bool = False,
    plot_seed: Optional[int] = None,
    progress: Optional[bool] = None,
) -> List[Dict[str, Any]]:
    """Run every spec not already done (with ``resume``), writing each record as it finishes."""
    from tqdm.auto import tqdm

    from .data import resolve_data_path

    output_dir = Path(output_dir)
    store = RunStore(output_dir)
    dataset_path = resolve_data_path(dataset_path)
    data_cache: Dict[str, Any] = {}
    records = []
    bar = tqdm(specs, desc="runs", unit="run", disable=None if progress is None else not progress)
    for spec in bar:
        bar.set_postfix_str(spec.run_id)
        if resume:
            done = store.load(spec)
            if done and done.get("status") == "ok" and done.get("config_hash") == spec.config_hash:
                logger.info("resume: %s already done", spec.run_id)
                records.append(done)
                continue
        record: Dict[str, Any] = {
            "run_id": spec.run_id,
            "model": spec.model,
            "kind": spec.kind,
            "source": spec.source,
            "dataset": spec.dataset,
            "seed": spec.seed,
            "config_hash": spec.config_hash,
            "config": spec.config,
            "started": datetime.now().isoformat(timespec="seconds"),
        }
        artifacts = output_dir / "artifacts" / spec.run_id
        plots = (
            output_dir / "plots" / f"{_slug(spec.model)}__{_slug(spec.dataset)}.png" if spec.seed == plot_seed else None
        )
        try:
            if spec.kind == "baseline":
                record.update(_run_baseline(spec, dataset_path, artifacts, plots, data_cache))
            else:
                record.update(_run_config(spec, dataset_path, artifacts, plots))
            record["status"] = "ok"
        except Exception as err:  # recorded, the other runs go on
            logger.error("run %s failed: %s: %s", spec.run_id, type(err).__name__, err)
            record.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        record["finished"] = datetime.now().isoformat(timespec="seconds")
        store.write(record)
        records.append(record)
    return records


# ---------------------------------------------------------------------------------------------- aggregation
def _mean_std(values: Sequence[float]) -> Tuple[Optional[float], Optional[float]]:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def aggregate(records: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (dataset, model): mean and std over the seeds that succeeded, ranked by CRPS."""
    groups: Dict[Tuple[str, str], List[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["dataset"], record["model"]), []).append(record)
    rows = []
    for (dataset, model), group in groups.items():
        ok = [r for r in group if r.get("status") == "ok"]
        row: Dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "kind": group[0].get("kind"),
            "runs": len(group),
            "ok": len(ok),
            "seeds": sorted(r["seed"] for r in ok),
            "failed": [{"seed": r["seed"], "error": r.get("error")} for r in group if r.get("status") != "ok"],
        }
        for key, _ in METRIC_COLUMNS:
            values = [(r.get("metrics") or {}).get(key) for r in ok]
            row[key], row[f"{key}_std"] = _mean_std([v for v in values if v is not None])
        nfes = {r.get("nfe") for r in ok}
        row["nfe"] = nfes.pop() if len(nfes) == 1 else (sorted(n for n in nfes if n is not None) or None)
        params = [r.get("num_parameters") for r in ok if r.get("num_parameters") is not None]
        row["num_parameters"] = params[0] if params else None
        rows.append(row)
    for dataset in {r["dataset"] for r in rows}:
        ranked = sorted(
            (r for r in rows if r["dataset"] == dataset),
            key=lambda r: (r[RANK_METRIC] is None, r[RANK_METRIC] if r[RANK_METRIC] is not None else 0.0, r["model"]),
        )
        for i, row in enumerate(ranked, 1):
            row["rank"] = i if row[RANK_METRIC] is not None else None
    dataset_order = list(dict.fromkeys(r["dataset"] for r in records))
    rows.sort(key=lambda r: (dataset_order.index(r["dataset"]), r["rank"] is None, r["rank"] or 0, r["model"]))
    return rows


def _fmt(value: Optional[float], std: Optional[float] = None, n: int = 1) -> str:
    if value is None:
        return "n/a"
    digits = 4 if abs(value) < 1000 else 1
    text = f"{value:.{digits}f}"
    if std is not None and n > 1:
        text += f" ± {std:.{digits}f}"
    return text


def to_markdown(
    rows: Sequence[Mapping[str, Any]], splits: Mapping[str, Mapping[str, Any]], records: Sequence[Mapping[str, Any]]
) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Mean ± std over seeds; ranked by CRPS (mean weighted quantile loss) within each dataset. "
        "`cov 50%`/`cov 90%`: share of the truth inside the central 50%/90% interval (calibrated: 0.5/0.9). "
        "`nfe`: network evaluations per forecast (for a batch of sample paths).",
        "",
    ]
    headers = ["rank", "model", "seeds"] + [h for _, h in METRIC_COLUMNS] + ["nfe", "parameters"]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        split = splits.get(dataset, {})
        data = split.get("data", {})
        evaluation = split.get("evaluation", {})
        lines += [f"## {dataset}", ""]
        if split:
            lines += [
                f"Split shared by every row: predict_len={data.get('predict_len', 'dataset default')}, "
                f"max_series={data.get('max_series')}, num_series={evaluation.get('num_series')}, "
                f"num_samples={evaluation.get('num_samples')} (reference config: {split.get('reference')}).",
                "",
            ]
        lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for row in (r for r in rows if r["dataset"] == dataset):
            cells = [str(row["rank"] or "-"), row["model"], f"{row['ok']}/{row['runs']}"]
            cells += [_fmt(row[key], row[f"{key}_std"], row["ok"]) for key, _ in METRIC_COLUMNS]
            cells += [
                "n/a" if row["nfe"] is None else str(row["nfe"]),
                "n/a" if row["num_parameters"] is None else f"{row['num_parameters']:,}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["## Failed runs", "", "| run | error |", "|---|---|"]
        for r in failed:
            lines.append(
                f"| {r['run_id']} | {str(r.get('error', '')).replace('|', '/').splitlines()[0] if r.get('error') else ''} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    columns = ["dataset", "rank", "model", "kind", "runs", "ok"]
    for key, _ in METRIC_COLUMNS:
        columns += [key, f"{key}_std"]
    columns += ["nfe", "num_parameters"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})


def plot_crps(rows: Sequence[Mapping[str, Any]], path: Path) -> Optional[Path]:
    """Horizontal CRPS bars (± std over seeds), one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows if r[RANK_METRIC] is not None))
    if not datasets:
        return None
    heights = [
        max(1.5, 0.35 * sum(1 for r in rows if r["dataset"] == d and r[RANK_METRIC] is not None) + 0.8)
        for d in datasets
    ]
    fig, axes = plt.subplots(
        len(datasets), 1, figsize=(8, sum(heights)), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for ax, dataset in zip(axes[:, 0], datasets):
        ranked = [r for r in rows if r["dataset"] == dataset and r[RANK_METRIC] is not None][::-1]
        colors = ["tab:gray" if r.get("kind") == "baseline" else "tab:blue" for r in ranked]
        ax.barh(
            [r["model"] for r in ranked],
            [r[RANK_METRIC] for r in ranked],
            xerr=[r[f"{RANK_METRIC}_std"] or 0 for r in ranked],
            color=colors,
        )
        ax.set_title(f"{dataset}: CRPS (lower is better; grey = GluonTS baseline)", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_leaderboard(
    records: Sequence[Mapping[str, Any]], splits: Mapping[str, Any], output_dir: Union[str, Path]
) -> Leaderboard:
    """Aggregate ``records`` and write ``leaderboard.md``, ``.csv``, ``.json`` and ``crps.png``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = aggregate(records)
    board = Leaderboard(rows=rows, records=list(records), splits=dict(splits))
    md, csv_path, json_path = (
        output_dir / "leaderboard.md",
        output_dir / "leaderboard.csv",
        output_dir / "leaderboard.json",
    )
    md.write_text(to_markdown(rows, splits, records))
    write_csv(rows, csv_path)
    json_path.write_text(
        json.dumps(
            {
                "rank_metric": RANK_METRIC,
                "splits": splits,
                "rows": rows,
                "failed": [
                    {k: r.get(k) for k in ("run_id", "model", "dataset", "seed", "error")} for r in board.failed
                ],
            },
            indent=2,
            default=_json_default,
        )
    )
    board.paths = {"markdown": str(md), "csv": str(csv_path), "json": str(json_path)}
    chart = plot_crps(rows, output_dir / "crps.png")
    if chart is not None:
        board.paths["chart"] = str(chart)
    return board


def compare(
    configs: Sequence[Union[str, Path, Mapping[str, Any]]],
    datasets: Optional[Sequence[str]] = None,
    baselines: Sequence[str] = ("seasonal_naive",),
    seeds: Sequence[int] = (0,),
    dataset_path: Optional[Union[str, Path]] = None,
    output_dir: Union[str, Path] = "experiments/leaderboard",
    resume: bool = False,
    debug: bool = False,
    epochs: Optional[int] = None,
    num_samples: Optional[int] = None,
    progress: Optional[bool] = None,
) -> Leaderboard:
    """Run every config x dataset x seed and the baselines on identical splits; write the leaderboard."""
    specs, splits = plan_runs(configs, datasets, baselines, seeds, debug=debug, epochs=epochs, num_samples=num_samples)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "plan.json").write_text(
        json.dumps(
            {
                "runs": [
                    {"run_id": s.run_id, "model": s.model, "kind": s.kind, "dataset": s.dataset, "seed": s.seed}
                    for s in specs
                ],
                "splits": splits,
            },
            indent=2,
            default=_json_default,
        )
    )
    records = execute(
        specs,
        output_dir,
        dataset_path=dataset_path,
        resume=resume,
        plot_seed=seeds[0] if seeds else None,
        progress=progress,
    )
    return write_leaderboard(records, splits, output_dir)
