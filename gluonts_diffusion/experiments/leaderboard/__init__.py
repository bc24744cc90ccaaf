"""Leaderboards: every config x dataset x seed and the GluonTS baselines, on identical splits.

:func:`compare` is what ``python -m gluonts_diffusion.compare`` runs: :mod:`.plan` lays out the runs and the
shared split of each dataset, :mod:`.run` runs them as experiments (baselines as ``baseline`` experiments)
into :mod:`.store`'s ``runs/`` folder, :mod:`.report` aggregates and writes the tables. Output folder::

    plan.json                               the planned runs and splits
    runs/<model>__<dataset>__seed<k>.json   one file per finished (or failed) run, written as it ends
    artifacts/<run id>/                     predictor, logs and checkpoints of that run
    plots/<model>__<dataset>.png            fan charts of a few series (first seed)
    leaderboard.md / .csv / .json           mean +- std over seeds, ranked by CRPS within each dataset; with
                                            select_on="validation", the config each dataset selects on its
                                            validation windows (val_mean_wQuantileLoss) marked "selected"
    crps.png                                CRPS bar chart

``resume=True`` skips every run whose file says ``ok`` for the same effective config; failed runs
are retried. A run that raises is written with ``status: failed`` and its error; the others go on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional, Sequence, Union

from .plan import SPLIT_DATA_KEYS, ConfigSource, RunSpec, plan_runs
from .report import COLUMNS, Leaderboard, aggregate, to_markdown, write_leaderboard
from .run import execute
from .store import RunStore, json_default

__all__ = [
    "COLUMNS",
    "SPLIT_DATA_KEYS",
    "Leaderboard",
    "RunSpec",
    "RunStore",
    "aggregate",
    "compare",
    "execute",
    "plan_runs",
    "to_markdown",
    "write_leaderboard",
]


def compare(
    configs: Sequence[ConfigSource],
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
    select_on: Optional[Literal["validation"]] = None,
) -> Leaderboard:
    """Run every config x dataset x seed and the baselines on identical splits; write the leaderboard.

    ``select_on="validation"``: every config trains with validation windows (``training.validation``, 1 window
    unless it asks for more) and each dataset's best config is chosen on their ``val_mean_wQuantileLoss``,
    never on the test split, whose columns report the choice."""
    if select_on not in (None, "validation"):
        raise ValueError(f"select_on must be 'validation' or None, got {select_on!r}")
    specs, splits = plan_runs(
        configs,
        datasets,
        baselines,
        seeds,
        debug=debug,
        epochs=epochs,
        num_samples=num_samples,
        validation=select_on == "validation",
    )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runs = [{"run_id": s.run_id, "model": s.model, "kind": s.kind, "dataset": s.dataset, "seed": s.seed} for s in specs]
    plan = json.dumps({"runs": runs, "splits": splits}, indent=2, default=json_default)
    (output_dir / "plan.json").write_text(plan)
    plot_seed = seeds[0] if seeds else None
    records = execute(
        specs, output_dir, dataset_path=dataset_path, resume=resume, plot_seed=plot_seed, progress=progress
    )
    return write_leaderboard(records, splits, output_dir, select_on=select_on)
