"""Leaderboard reports: mean ± std over seeds, ranked by CRPS within each dataset, as Markdown, CSV, JSON
and a bar chart. The columns are the ``leaderboard`` metrics of :data:`..scoring.METRICS`."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple, Union

from ..scoring import RANK_METRIC, Metric, metrics_shown, validation_metric
from .store import json_default

#: the leaderboard's metric columns, in order
COLUMNS: Tuple[Metric, ...] = metrics_shown("leaderboard")
#: what ``select_on="validation"`` chooses the best config of each dataset by (lower is better)
SELECT_METRIC = validation_metric(RANK_METRIC)


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


def mean_std(values: Sequence[Optional[float]]) -> Tuple[Optional[float], Optional[float]]:
    """Mean and sample std of the finite values (std 0 for one value; None, None for none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None, None
    mean = sum(finite) / len(finite)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)) if len(finite) > 1 else 0.0
    return mean, std


def aggregate_group(dataset: str, model: str, group: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """One row: the runs of ``model`` on ``dataset`` over seeds (metrics over the ones that succeeded)."""
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
    for key in (*(metric.key for metric in COLUMNS), SELECT_METRIC):
        row[key], row[f"{key}_std"] = mean_std([(r.get("metrics") or {}).get(key) for r in ok])
    nfes = {r.get("nfe") for r in ok}
    row["nfe"] = nfes.pop() if len(nfes) == 1 else (sorted(n for n in nfes if n is not None) or None)
    params = [r.get("num_parameters") for r in ok if r.get("num_parameters") is not None]
    row["num_parameters"] = params[0] if params else None
    return row


def aggregate(records: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (dataset, model): mean and std over the seeds that succeeded, ranked by CRPS."""
    records = list(records)
    groups: Dict[Tuple[str, str], List[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["dataset"], record["model"]), []).append(record)
    rows = [aggregate_group(dataset, model, group) for (dataset, model), group in groups.items()]
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


def select_on_validation(rows: Sequence[Dict[str, Any]]) -> Dict[str, Optional[str]]:
    """Mark (``row["selected"]``) the config of each dataset with the lowest mean :data:`SELECT_METRIC` over
    seeds, scored on validation windows only (baselines have none and are not candidates); its test columns
    are then an honest score of the selection. Returns ``{dataset: selected model or None}``."""
    chosen: Dict[str, Optional[str]] = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        candidates = [r for r in rows if r["dataset"] == dataset and r.get(SELECT_METRIC) is not None]
        best = min(candidates, key=lambda r: (r[SELECT_METRIC], r["model"]), default=None)
        for row in (r for r in rows if r["dataset"] == dataset):
            row["selected"] = row is best
        chosen[dataset] = None if best is None else best["model"]
    return chosen


def fmt(value: Optional[float], std: Optional[float] = None, n: int = 1, digits: int = 4) -> str:
    """``value ± std`` (std only over several runs); one decimal from 1000 on; ``n/a`` for None."""
    if value is None:
        return "n/a"
    digits = digits if abs(value) < 1000 else min(digits, 1)
    text = f"{value:.{digits}f}"
    if std is not None and n > 1:
        text += f" ± {std:.{digits}f}"
    return text


def dataset_section(dataset: str, rows: Sequence[Mapping[str, Any]], split: Mapping[str, Any]) -> List[str]:
    """The Markdown lines of one dataset: its shared split and its ranked table."""
    data, evaluation = split.get("data", {}), split.get("evaluation", {})
    lines = [f"## {dataset}", ""]
    if split:
        lines += [
            f"Split shared by every row: prediction_length={data.get('prediction_length', 'dataset default')}, "
            f"max_series={data.get('max_series')}, num_series={evaluation.get('num_series')}, "
            f"num_samples={evaluation.get('num_samples')} (reference config: {split.get('reference')}).",
            "",
        ]
    rows = [r for r in rows if r["dataset"] == dataset]
    columns = [m for m in COLUMNS if not m.optional or any(r.get(m.key) is not None for r in rows)]
    headers = ["rank", "model", "seeds"] + [m.header for m in columns] + ["nfe", "parameters"]
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        model = f"{row['model']} (selected)" if row.get("selected") else row["model"]
        cells = [str(row["rank"] or "-"), model, f"{row['ok']}/{row['runs']}"]
        cells += [fmt(row[m.key], row[f"{m.key}_std"], row["ok"], m.digits) for m in columns]
        cells += [
            "n/a" if row["nfe"] is None else str(row["nfe"]),
            "n/a" if row["num_parameters"] is None else f"{row['num_parameters']:,}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    selected = [r for r in rows if r.get("selected")]
    if selected:
        row = selected[0]
        lines += [
            "",
            f"Selected on validation: **{row['model']}** (lowest {SELECT_METRIC} "
            f"{fmt(row[SELECT_METRIC], row[f'{SELECT_METRIC}_std'], row['ok'])}, scored on the last window(s) of "
            f"the training series); its test CRPS: {fmt(row[RANK_METRIC], row[f'{RANK_METRIC}_std'], row['ok'])}.",
        ]
    return lines + [""]


def to_markdown(
    rows: Sequence[Mapping[str, Any]], splits: Mapping[str, Mapping[str, Any]], records: Sequence[Mapping[str, Any]]
) -> str:
    lines = [
        "# Leaderboard",
        "",
        "Mean ± std over seeds; ranked by CRPS (mean weighted quantile loss) within each dataset. "
        "`cov 50%`/`cov 80%`/`cov 90%`: share of the truth inside the central 50%/80%/90% interval "
        "(calibrated: 0.5/0.8/0.9). `calib err`: mean |share of the truth below quantile q - q| over "
        "q = 0.05...0.95 (calibrated: 0). `sharpness`: mean 80% interval width / mean |target| (lower is sharper). "
        "`nfe`: network evaluations per forecast (for a batch of sample paths).",
        "",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        lines += dataset_section(dataset, rows, splits.get(dataset, {}))
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        lines += ["## Failed runs", "", "| run | error |", "|---|---|"]
        for r in failed:
            error = str(r.get("error", "")).replace("|", "/").splitlines()[0] if r.get("error") else ""
            lines.append(f"| {r['run_id']} | {error} |")
        lines.append("")
    return "\n".join(lines)


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    columns = ["dataset", "rank", "model", "kind", "runs", "ok"]
    for metric in COLUMNS:
        columns += [metric.key, f"{metric.key}_std"]
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

    panels = {}
    for row in rows:
        if row[RANK_METRIC] is not None:
            panels.setdefault(row["dataset"], []).append(row)
    if not panels:
        return None
    heights = [max(1.5, 0.35 * len(ranked) + 0.8) for ranked in panels.values()]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(8, sum(heights)), squeeze=False, gridspec_kw={"height_ratios": heights}
    )
    for ax, (dataset, ranked) in zip(axes[:, 0], panels.items()):
        ranked = ranked[::-1]
        ax.barh(
            [r["model"] for r in ranked],
            [r[RANK_METRIC] for r in ranked],
            xerr=[r[f"{RANK_METRIC}_std"] or 0 for r in ranked],
            color=["tab:gray" if r.get("kind") == "baseline" else "tab:blue" for r in ranked],
        )
        ax.set_title(f"{dataset}: CRPS (lower is better; grey = GluonTS baseline)", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_leaderboard(
    records: Sequence[Mapping[str, Any]],
    splits: Mapping[str, Any],
    output_dir: Union[str, Path],
    select_on: Optional[Literal["validation"]] = None,
) -> Leaderboard:
    """Aggregate ``records`` and write ``leaderboard.md``, ``.csv``, ``.json`` and ``crps.png``; with
    ``select_on="validation"`` mark the config each dataset selects on validation (:func:`select_on_validation`)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = aggregate(records)
    selection = (
        {"split": select_on, "metric": SELECT_METRIC, "selected": select_on_validation(rows)} if select_on else None
    )
    board = Leaderboard(rows=rows, records=list(records), splits=dict(splits))
    paths = {name: output_dir / f"leaderboard.{suffix}" for name, suffix in (("markdown", "md"), ("csv", "csv"))}
    paths["json"] = output_dir / "leaderboard.json"
    paths["markdown"].write_text(to_markdown(rows, splits, records))
    write_csv(rows, paths["csv"])
    failed = [{k: r.get(k) for k in ("run_id", "model", "dataset", "seed", "error")} for r in board.failed]
    summary = {"rank_metric": RANK_METRIC, "selection": selection, "splits": splits, "rows": rows, "failed": failed}
    paths["json"].write_text(json.dumps(summary, indent=2, default=json_default))
    board.paths = {name: str(path) for name, path in paths.items()}
    chart = plot_crps(rows, output_dir / "crps.png")
    if chart is not None:
        board.paths["chart"] = str(chart)
    return board
