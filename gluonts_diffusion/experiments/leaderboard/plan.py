"""Planning a comparison: every config x dataset x seed and the baselines, on one shared split per dataset.

Identical splits: every run on a dataset uses the same ``data.prediction_length``, ``data.max_series``,
``data.freq``, ``evaluation.num_series`` and ``evaluation.num_samples`` (those of the first config on that
dataset, the *reference*); the baselines also take its training budget (epochs, batches, batch size, context).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

from ..base import apply_overrides, in_process
from ..baselines import SPLIT_EVALUATION_KEYS, baseline_config, check_baseline
from ..config import load_config, validate_config
from ..validation import with_validation

logger = logging.getLogger(__name__)

#: the data keys every run on one dataset shares (the evaluation ones: ``SPLIT_EVALUATION_KEYS``)
SPLIT_DATA_KEYS = ("prediction_length", "max_series", "freq")

ConfigSource = Union[str, Path, Mapping[str, Any]]


def slug(text: str) -> str:
    """``text`` as a file-name part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "run"


@dataclass
class RunSpec:
    """One cell of the leaderboard: a model (config or baseline) on a dataset with a seed."""

    model: str
    kind: Literal["config", "baseline"]
    source: str  # config file or baseline name
    dataset: str
    seed: int
    config: Dict[str, Any]  # effective config (a baseline: a ``baseline`` experiment on the dataset's reference)

    @property
    def run_id(self) -> str:
        return f"{slug(self.model)}__{slug(self.dataset)}__seed{self.seed}"

    @property
    def config_hash(self) -> str:
        key = {"kind": self.kind, "source": self.source if self.kind == "baseline" else "", "config": self.config}
        return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class Cell:
    """A config on one dataset, before seeds."""

    model: str
    source: str
    config: Dict[str, Any]
    dataset: str


def model_names(configs: Sequence[Tuple[str, Dict[str, Any]]]) -> List[str]:
    """One distinct name per config: ``experiment.name`` (else the file name), disambiguated."""
    names = [(cfg.get("experiment") or {}).get("name") or Path(path).stem for path, cfg in configs]
    out: List[str] = []
    for (path, _), name in zip(configs, names):
        if names.count(name) > 1:
            name = f"{name}_{Path(path).stem}" if name != Path(path).stem else name
        while name in out:
            name = f"{name}_{len(out)}"
        out.append(name)
    return out


def load_configs(
    configs: Sequence[ConfigSource], debug: bool, epochs: Optional[int], num_samples: Optional[int]
) -> List[Tuple[str, Dict[str, Any]]]:
    """``(label, validated config)`` of every source, with the command line's overrides, trained in-process."""
    loaded = []
    for i, source in enumerate(configs):
        label = str(source) if not isinstance(source, Mapping) else f"config{i}"
        config = validate_config(in_process(apply_overrides(load_config(source), debug=debug, epochs=epochs), label))
        if num_samples is not None:
            config.setdefault("evaluation", {})["num_samples"] = int(num_samples)
        loaded.append((label, config))
    return loaded


def make_cells(loaded: Sequence[Tuple[str, Dict[str, Any]]], datasets: Optional[Sequence[str]]) -> List[Cell]:
    """Every config on every dataset (``datasets``, else its own); another dataset keeps its own horizon."""
    cells = []
    for (label, config), name in zip(loaded, model_names(loaded)):
        for dataset in datasets or [config["data"]["dataset"]]:
            cfg = copy.deepcopy(config)
            if datasets:
                cfg["data"] = {k: v for k, v in cfg["data"].items() if k not in ("prediction_length", "freq")}
                cfg["data"]["dataset"] = dataset
            cells.append(Cell(name, label, cfg, dataset))
    return cells


def share(cfg: Dict[str, Any], ref: Mapping[str, Any], section: str, key: str, name: str, dataset: str) -> None:
    """Give ``cfg`` the reference's ``section.key`` (warning when it had a value of its own)."""
    ref_value = (ref.get(section) or {}).get(key)
    if cfg.get(section) is None:
        cfg[section] = {}
    own = cfg[section]
    if own.get(key) == ref_value:
        return
    if own.get(key) is not None:
        logger.warning(
            "%s on %s: %s.%s=%r replaced by the shared split's %r", name, dataset, section, key, own.get(key), ref_value
        )
    if ref_value is None:
        own.pop(key, None)
    else:
        own[key] = ref_value


def dataset_runs(
    dataset: str, cells: Sequence[Cell], baselines: Sequence[str], seeds: Sequence[int], validation: bool = False
) -> Tuple[List[RunSpec], Dict[str, Any]]:
    """The runs on ``dataset`` (baselines first, per seed) and its split summary; ``validation``: every config
    trains with validation windows (:func:`with_validation`), which give the ``val_`` metrics selection reads."""
    own = [cell for cell in cells if cell.dataset == dataset]
    ref = own[0].config
    for cell in own:
        for key in SPLIT_DATA_KEYS:
            share(cell.config, ref, "data", key, cell.model, dataset)
        for key in SPLIT_EVALUATION_KEYS:
            share(cell.config, ref, "evaluation", key, cell.model, dataset)
        cell.config.setdefault("evaluation", {})["baselines"] = []  # baselines are runs of their own
    specs = []
    for seed in seeds:
        for baseline in baselines:
            cfg = baseline_config(ref, baseline, int(seed))
            specs.append(RunSpec(baseline, "baseline", baseline, dataset, int(seed), cfg))
        for cell in own:
            config = apply_overrides(cell.config, seed=seed)
            config = with_validation(config) if validation else config
            specs.append(RunSpec(cell.model, "config", cell.source, dataset, int(seed), config))
    summary = {
        "reference": own[0].model,
        "data": ref["data"],
        "evaluation": {k: (ref.get("evaluation") or {}).get(k) for k in SPLIT_EVALUATION_KEYS},
    }
    return specs, summary


def plan_runs(
    configs: Sequence[ConfigSource],
    datasets: Optional[Sequence[str]] = None,
    baselines: Sequence[str] = ("seasonal_naive",),
    seeds: Sequence[int] = (0,),
    debug: bool = False,
    epochs: Optional[int] = None,
    num_samples: Optional[int] = None,
    validation: bool = False,
) -> Tuple[List[RunSpec], Dict[str, Dict[str, Any]]]:
    """Every run of the comparison and the shared split of each dataset (its reference config); ``validation``:
    configs train with validation windows (see :func:`dataset_runs`)."""
    for baseline in baselines:
        check_baseline(baseline)
    cells = make_cells(load_configs(configs, debug, epochs, num_samples), datasets)
    specs: List[RunSpec] = []
    splits: Dict[str, Dict[str, Any]] = {}
    for dataset in dict.fromkeys(cell.dataset for cell in cells):
        runs, splits[dataset] = dataset_runs(dataset, cells, baselines, seeds, validation)
        specs += runs
    return specs, splits
