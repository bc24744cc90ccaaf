"""Running a comparison: every planned run as an experiment (configs and ``baseline`` experiments alike),
each record written as it ends; a run that raises is recorded as ``failed`` and the others go on."""

from __future__ import annotations

import json
import logging
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from gluonts_diffusion.data.datasets import resolve_data_path

from ..base import experiment_class
from ..forecast import load_experiment_data
from .plan import RunSpec, slug
from .store import RunStore, clean_metrics

logger = logging.getLogger(__name__)


class SplitCache:
    """The last loaded split, handed to the ``baseline`` runs that share it (they come one seed after another)."""

    def __init__(self, dataset_path: Optional[Path]) -> None:
        self.dataset_path = dataset_path
        self.key: Optional[str] = None
        self.data: Any = None

    def get(self, spec: RunSpec):
        config = spec.config
        key = json.dumps([spec.dataset, config["data"], config.get("evaluation")], sort_keys=True, default=str)
        if key != self.key:
            self.key = key
            self.data = load_experiment_data(config, resolve_data_path(self.dataset_path, config["data"].get("path")))
        return self.data


def run_experiment(
    spec: RunSpec, dataset_path: Optional[Path], artifacts: Path, plots: Optional[Path], splits: SplitCache
) -> Dict[str, Any]:
    """Run ``spec``'s experiment into ``artifacts``; its part of the run record (and fan chart in ``plots``)."""
    from ..plotting import plot_forecasts

    options: Dict[str, Any] = {"data": splits.get(spec)} if spec.kind == "baseline" else {}
    experiment = experiment_class(spec.config)(spec.config, dataset_path=dataset_path, run_dir=artifacts, **options)
    result = experiment.run()
    timings = {"train_seconds": result.train_seconds, "sample_seconds_per_series": result.sample_seconds_per_series}
    record = {
        "metrics": clean_metrics({**result.metrics, **timings}),
        "train_seconds": result.train_seconds,
        "predict_seconds": result.predict_seconds,
        "sample_seconds_per_series": result.sample_seconds_per_series,
        "num_series": result.num_series,
        "num_samples": result.num_samples,
        "nfe": result.nfe,
        "num_parameters": result.num_parameters,
        "run_dir": result.run_dir,
    }
    if result.predictor_path is not None:
        record["predictor_path"] = result.predictor_path
    if plots is not None and getattr(experiment, "forecasts", None):
        title = f"{spec.model} ({spec.dataset})"
        record["plot_path"] = str(plot_forecasts(experiment.forecasts, experiment.series, plots, title=title))
    return record


def new_record(spec: RunSpec) -> Dict[str, Any]:
    return {
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

    output_dir = Path(output_dir)
    store = RunStore(output_dir)
    path = resolve_data_path(dataset_path)
    splits = SplitCache(path)
    records = []
    bar = tqdm(specs, desc="runs", unit="run", disable=None if progress is None else not progress)
    for spec in bar:
        bar.set_postfix_str(spec.run_id)
        done = store.done(spec) if resume else None
        if done is not None:
            logger.info("resume: %s already done", spec.run_id)
            records.append(done)
            continue
        record = new_record(spec)
        artifacts = output_dir / "artifacts" / spec.run_id
        plots = (
            output_dir / "plots" / f"{slug(spec.model)}__{slug(spec.dataset)}.png" if spec.seed == plot_seed else None
        )
        try:
            record.update(run_experiment(spec, path, artifacts, plots, splits))
            record["status"] = "ok"
        except Exception as err:  # recorded, the other runs go on
            logger.error("run %s failed: %s: %s", spec.run_id, type(err).__name__, err)
            record.update(status="failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        record["finished"] = datetime.now().isoformat(timespec="seconds")
        store.write(record)
        records.append(record)
    return records
