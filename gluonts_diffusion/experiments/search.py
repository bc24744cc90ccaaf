"""Hyperparameter search with Optuna over dotted paths of an experiment config.

A search config (``configs/search/*.yaml``)::

    study:
      name: m4_transformer          # default: <base experiment name>_search
      metric: mean_wQuantileLoss    # any reported metric (see KNOWN_METRICS); default mean_wQuantileLoss
      direction: minimize           # or maximize
      n_trials: 20                  # total trial budget of the study (all workers together)
      sampler: tpe                  # grid | random | tpe (default: grid if every parameter is a grid, else tpe)
      seed: 0                       # sampler seed
      output_dir: experiments/search/m4_transformer
      storage: null                 # default sqlite:///<output_dir>/study.db; any Optuna storage URL
      timeout: null                 # seconds per worker
    parameters:                     # dotted paths into the base config, one range each
      components.architecture.params.model_dim: {grid: [32, 64]}
      components.sampler.type: {choice: [ddim, dpm]}
      training.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
      components.architecture.params.dropout: {uniform: [0.0, 0.3]}
      components.architecture.params.num_layers: {int: [1, 4]}      # or [low, high, step]

Every trial's config is checked with :func:`validate_config` before training. A failing trial
(invalid config, training error, non-finite metric) is recorded as ``TrialState.FAIL`` with its error
in the trial's user attribute ``error``; the study goes on. The study lives in its storage
(``load_if_exists``): rerunning the same command resumes it up to ``n_trials``, and several workers
given the same storage URL share the budget. Written: ``trials.csv`` (after every trial),
``best_config.yaml`` and ``best.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .base import apply_overrides, experiment_class, in_process
from .config import SECTIONS, ConfigError, load_config, validate_config

logger = logging.getLogger(__name__)

RANGE_KINDS = ("grid", "choice", "uniform", "loguniform", "int")
SAMPLERS = ("grid", "random", "tpe")
STUDY_KEYS = {
    "name": "study name in the storage",
    "metric": "metric to optimise",
    "direction": "minimize or maximize",
    "n_trials": "total trial budget",
    "sampler": "grid, random or tpe",
    "seed": "sampler seed",
    "output_dir": "where trials.csv, best_config.yaml and the default SQLite storage go",
    "storage": "Optuna storage URL",
    "timeout": "seconds per worker",
}
#: metrics a search may optimise (GluonTS aggregate metrics, ``wQuantileLoss[q]`` and ``Coverage[q]`` too)
KNOWN_METRICS = (
    "mean_wQuantileLoss",
    "sample_CRPS",
    "MASE",
    "sMAPE",
    "MAPE",
    "MSIS",
    "ND",
    "NRMSE",
    "RMSE",
    "MSE",
    "MAE_Coverage",
    "coverage_50",
    "coverage_90",
    "m_sum_mean_wQuantileLoss",
    "train_seconds",
    "sample_seconds_per_series",
    "predict_seconds",
    "num_parameters",
    "nfe",
)


class SearchConfigError(ConfigError):
    """An invalid search config; the message names the offending key."""


@dataclass
class SearchResult:
    study_name: str
    storage: str
    metric: str
    direction: str
    best_value: Optional[float]
    best_params: Dict[str, Any]
    best_config: Optional[Dict[str, Any]]
    n_complete: int
    n_failed: int
    paths: Dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- config
def set_dotted(config: Dict[str, Any], path: str, value: Any) -> Dict[str, Any]:
    """Set ``a.b.c`` in a nested dict (creating missing levels); returns ``config``."""
    keys = path.split(".")
    node = config
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise SearchConfigError(f"parameter {path!r}: {key!r} is {child!r}, not a mapping")
        node = child
    node[keys[-1]] = value
    return config


def apply_params(base: Mapping[str, Any], params: Mapping[str, Any]) -> Dict[str, Any]:
    config = copy.deepcopy(dict(base))
    for path, value in params.items():
        set_dotted(config, path, value)
    return config


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_value(spec: Mapping[str, Any]) -> Any:
    kind, values = next(iter(spec.items()))
    if kind in ("grid", "choice"):
        return values[0]
    if kind == "int":
        return int(values[0])
    return float(values[0])


def validate_search_config(
    source: Union[str, Path, Mapping[str, Any]], base_config: Optional[Mapping[str, Any]] = None
) -> Dict[str, Any]:
    """Check a search config (and, given the base config, that each parameter path leads to a valid config).

    Returns the search config with defaults filled in; raises :class:`SearchConfigError` naming the bad key.
    """
    try:
        search = load_config(source)
    except ConfigError as err:
        raise SearchConfigError(str(err)) from None
    for key in search:
        if key not in ("study", "parameters"):
            raise SearchConfigError(f"unknown search section {key!r}; a search config has 'study' and 'parameters'")
    study = dict(search.get("study") or {})
    for key in study:
        if key not in STUDY_KEYS:
            raise SearchConfigError(f"unknown key study.{key}; known keys: {', '.join(STUDY_KEYS)}")
    study.setdefault("metric", "mean_wQuantileLoss")
    study.setdefault("direction", "minimize")
    metric = study["metric"]
    if not isinstance(metric, str) or not (
        metric in KNOWN_METRICS or metric.startswith(("wQuantileLoss[", "QuantileLoss[", "Coverage["))
    ):
        raise SearchConfigError(f"study.metric {metric!r} is not a reported metric; known: {', '.join(KNOWN_METRICS)}")
    if study["direction"] not in ("minimize", "maximize"):
        raise SearchConfigError(f"study.direction must be 'minimize' or 'maximize', got {study['direction']!r}")
    if study.get("sampler") is not None and study["sampler"] not in SAMPLERS:
        raise SearchConfigError(f"study.sampler must be one of {', '.join(SAMPLERS)}, got {study['sampler']!r}")
    for key in ("n_trials", "seed", "timeout"):
        if study.get(key) is not None and (not _is_number(study[key]) or study[key] < (1 if key == "n_trials" else 0)):
            raise SearchConfigError(
                f"study.{key} must be a {'positive ' if key == 'n_trials' else 'non-negative '}number, got {study[key]!r}"
            )

    parameters = search.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise SearchConfigError("parameters must be a non-empty mapping of dotted config paths to ranges")
    for path, spec in parameters.items():
        where = f"parameters.{path}"
        if not isinstance(path, str) or "." not in path:
            raise SearchConfigError(
                f"{where}: a parameter is a dotted path into the config, e.g. training.learning_rate"
            )
        if path.split(".")[0] not in SECTIONS:
            raise SearchConfigError(
                f"{where}: unknown config section {path.split('.')[0]!r}; known sections: {', '.join(SECTIONS)}"
            )
        if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in RANGE_KINDS:
            raise SearchConfigError(
                f"{where}: give exactly one range, one of {', '.join(RANGE_KINDS)} (e.g. {{grid: [32, 64]}}), got {spec!r}"
            )
        kind, values = next(iter(spec.items()))
        if kind in ("grid", "choice"):
            if not isinstance(values, list) or not values:
                raise SearchConfigError(f"{where}: {kind} needs a non-empty list of values, got {values!r}")
        elif kind in ("uniform", "loguniform"):
            if not (
                isinstance(values, list)
                and len(values) == 2
                and all(_is_number(v) for v in values)
                and values[0] < values[1]
            ):
                raise SearchConfigError(f"{where}: {kind} needs [low, high] with low < high, got {values!r}")
            if kind == "loguniform" and values[0] <= 0:
                raise SearchConfigError(f"{where}: loguniform needs low > 0, got {values!r}")
        elif kind == "int":
            if not (
                isinstance(values, list)
                and len(values) in (2, 3)
                and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
                and values[0] <= values[1]
                and (len(values) == 2 or values[2] >= 1)
            ):
                raise SearchConfigError(
                    f"{where}: int needs [low, high] or [low, high, step] of integers, got {values!r}"
                )
    all_grid = all(next(iter(spec)) == "grid" for spec in parameters.values())
    study.setdefault("sampler", "grid" if all_grid else "tpe")
    if study["sampler"] == "grid" and not all_grid:
        bad = [p for p, s in parameters.items() if next(iter(s)) != "grid"]
        raise SearchConfigError(f"study.sampler grid needs every parameter as a grid; not: {', '.join(bad)}")
    if study.get("n_trials") is None:
        if all_grid and study["sampler"] == "grid":
            study["n_trials"] = math.prod(len(next(iter(s.values()))) for s in parameters.values())
        else:
            study["n_trials"] = 20
    if base_config is not None:
        base = load_config(base_config)
        for path, spec in parameters.items():
            try:
                validate_config(apply_params(base, {path: _first_value(spec)}))
            except ConfigError as err:
                raise SearchConfigError(
                    f"parameters.{path}: with its first value {_first_value(spec)!r} the base config is invalid: {err}"
                ) from None
    return {"study": study, "parameters": {k: dict(v) for k, v in parameters.items()}}


# ---------------------------------------------------------------------------------------------- optuna
def _encode(values: Sequence[Any]) -> List[Any]:
    """Optuna's categorical choices must be None/bool/int/float/str: other values travel as JSON text."""
    if all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
        return list(values)
    return [json.dumps(v) for v in values]


def _decode(values: Sequence[Any], chosen: Any) -> Any:
    encoded = _encode(values)
    return values[encoded.index(chosen)] if chosen in encoded else chosen


def suggest(trial, path: str, spec: Mapping[str, Any]) -> Any:
    kind, values = next(iter(spec.items()))
    if kind in ("grid", "choice"):
        return _decode(values, trial.suggest_categorical(path, _encode(values)))
    if kind == "uniform":
        return trial.suggest_float(path, float(values[0]), float(values[1]))
    if kind == "loguniform":
        return trial.suggest_float(path, float(values[0]), float(values[1]), log=True)
    step = int(values[2]) if len(values) == 3 else 1
    return trial.suggest_int(path, int(values[0]), int(values[1]), step=step)


def make_sampler(search: Mapping[str, Any]):
    import optuna

    study, parameters = search["study"], search["parameters"]
    seed = study.get("seed")
    if study["sampler"] == "grid":
        space = {path: _encode(next(iter(spec.values()))) for path, spec in parameters.items()}
        return optuna.samplers.GridSampler(space, seed=seed)
    if study["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_storage(url: str):
    """An Optuna storage; SQL URLs get a heartbeat so trials of a killed worker are marked failed."""
    import optuna

    if url.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql"):
        return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    return url


def metric_value(result, metric: str) -> Optional[float]:
    value = result.metrics.get(metric)
    if value is None:
        value = getattr(result, metric, None)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


FINISHED = ("COMPLETE", "FAIL", "PRUNED")


def run_search(
    base_config: Union[str, Path, Mapping[str, Any]],
    search_config: Union[str, Path, Mapping[str, Any]],
    storage: Optional[str] = None,
    study_name: Optional[str] = None,
    n_trials: Optional[int] = None,
    dataset_path: Optional[Union[str, Path]] = None,
    output_dir: Optional[Union[str, Path]] = None,
    debug: bool = False,
) -> SearchResult:
    """Run (or resume) the study; returns the best trial and the paths written."""
    import optuna
    import yaml

    from .data import resolve_data_path

    base = in_process(validate_config(base_config), "base config")
    search = validate_search_config(search_config, base)
    study_cfg, parameters = search["study"], search["parameters"]
    name = study_name or study_cfg.get("name") or f"{(base.get('experiment') or {}).get('name') or 'experiment'}_search"
    out = Path(output_dir or study_cfg.get("output_dir") or Path("experiments/search") / name)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or study_cfg.get("storage") or f"sqlite:///{(out / 'study.db').resolve()}"
    budget = int(
        n_trials if n_trials is not None else (min(study_cfg["n_trials"], 3) if debug else study_cfg["n_trials"])
    )
    metric, direction = study_cfg["metric"], study_cfg["direction"]
    data_path = resolve_data_path(dataset_path, (base.get("data") or {}).get("path"))

    study = optuna.create_study(
        study_name=name,
        storage=make_storage(url),
        sampler=make_sampler(search),
        direction=direction,
        load_if_exists=True,
    )
    study.set_user_attr("metric", metric)
    study.set_user_attr("parameters", json.dumps(parameters))

    def objective(trial) -> float:
        try:
            params = {path: suggest(trial, path, spec) for path, spec in parameters.items()}
            config = apply_params(base, params)
            config.setdefault("experiment", {})["name"] = f"{name}_trial{trial.number}"
            config.setdefault("evaluation", {})["baselines"] = []
            config = validate_config(apply_overrides(config, debug=debug))
            run_dir = out / "trials" / f"trial_{trial.number:04d}"
            result = experiment_class(config)(config, dataset_path=data_path, run_dir=run_dir).run()
            value = metric_value(result, metric)
            trial.set_user_attr("run_dir", str(run_dir))
            for key in ("mean_wQuantileLoss", "sample_CRPS", "MASE", "coverage_50", "coverage_90"):
                if metric_value(result, key) is not None:
                    trial.set_user_attr(key, metric_value(result, key))
            trial.set_user_attr("train_seconds", result.train_seconds)
            if value is None:
                raise ValueError(f"metric {metric!r} is missing or not finite in the trial's results")
            return value
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            logger.error("trial %d failed: %s: %s", trial.number, type(err).__name__, err)
            raise

    def write_table(study, _trial=None) -> None:
        study.trials_dataframe().to_csv(out / "trials.csv", index=False)

    done = sum(t.state.name in FINISHED for t in study.get_trials(deepcopy=False))
    remaining = max(budget - done, 0)
    if remaining:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=study_cfg.get("timeout"),
            catch=(Exception,),
            callbacks=[
                optuna.study.MaxTrialsCallback(
                    budget, states=tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
                ),
                write_table,
            ],
            gc_after_trial=True,
        )
    else:
        logger.info("study %s already has %d finished trials (budget %d)", name, done, budget)
    write_table(study)

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    result = SearchResult(
        study_name=name,
        storage=url,
        metric=metric,
        direction=direction,
        best_value=None,
        best_params={},
        best_config=None,
        n_complete=len(complete),
        n_failed=sum(t.state.name == "FAIL" for t in trials),
        paths={"trials": str(out / "trials.csv")},
    )
    if complete:
        best = study.best_trial
        params = {
            path: _decode(next(iter(spec.values())), best.params[path])
            if next(iter(spec)) in ("grid", "choice")
            else best.params[path]
            for path, spec in parameters.items()
            if path in best.params
        }
        best_config = apply_params(base, params)
        best_config.setdefault("experiment", {})["name"] = f"{name}_best"
        result.best_value, result.best_params, result.best_config = best.value, params, best_config
        header = f"# best of study {name!r} ({metric}, {direction}): trial {best.number}, value {best.value:.6g}\n"
        (out / "best_config.yaml").write_text(header + yaml.safe_dump(best_config, sort_keys=False))
        result.paths["best_config"] = str(out / "best_config.yaml")
    else:
        logger.warning("study %s has no completed trial: no best config", name)
    summary = {k: v for k, v in result.__dict__.items() if k not in ("best_config", "paths")}
    (out / "best.json").write_text(json.dumps(summary, indent=2, default=str))
    result.paths["summary"] = str(out / "best.json")
    return result
