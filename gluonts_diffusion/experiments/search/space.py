"""The search config: the ``study`` section, parameter ranges over dotted config paths, and their validation."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from gluonts_diffusion.model.config import canonical_config, canonical_path

from ..config import SECTIONS, ConfigError, load_config, validate_config
from ..scoring import METRIC_BY_KEY, default_direction, is_known_metric, validation_metric

RANGE_KINDS = ("grid", "choice", "uniform", "loguniform", "int")
OPTUNA_SAMPLERS = ("grid", "random", "tpe")
STUDY_KEYS = {
    "name": "study name in the storage",
    "metric": "metric to optimise",
    "direction": "minimize or maximize",
    "n_trials": "total trial budget",
    "sampler": "Optuna sampler: grid, random or tpe",
    "seed": "Optuna sampler seed",
    "output_dir": "where trials.csv, best_config.yaml and the default SQLite storage go",
    "storage": "Optuna storage URL",
    "timeout": "seconds per worker",
}


class SearchConfigError(ConfigError):
    """An invalid search config; the message names the offending key."""


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
    """A copy of ``base`` with each dotted ``path`` (the seed's aliases allowed) set to its value."""
    config = copy.deepcopy(dict(base))
    for path, value in params.items():
        set_dotted(config, canonical_path(path), value)
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


def check_study(study: Dict[str, Any]) -> None:
    """Check the ``study`` section and fill in ``metric`` and ``direction``. A search chooses on the validation
    windows only: ``metric`` (``mean_wQuantileLoss`` or ``val_mean_wQuantileLoss`` alike) becomes its ``val_``
    version."""
    for key in study:
        if key not in STUDY_KEYS:
            raise SearchConfigError(f"unknown key study.{key}; known keys: {', '.join(STUDY_KEYS)}")
    study.setdefault("metric", "mean_wQuantileLoss")
    metric = study["metric"]
    if not isinstance(metric, str) or not is_known_metric(metric):
        raise SearchConfigError(f"study.metric {metric!r} is not a reported metric; known: {', '.join(METRIC_BY_KEY)}")
    study["metric"] = validation_metric(metric)
    study.setdefault("direction", default_direction(metric))
    if study["direction"] not in ("minimize", "maximize"):
        raise SearchConfigError(f"study.direction must be 'minimize' or 'maximize', got {study['direction']!r}")
    if study.get("sampler") is not None and study["sampler"] not in OPTUNA_SAMPLERS:
        raise SearchConfigError(f"study.sampler must be one of {', '.join(OPTUNA_SAMPLERS)}, got {study['sampler']!r}")
    for key in ("n_trials", "seed", "timeout"):
        if study.get(key) is not None and (not _is_number(study[key]) or study[key] < (1 if key == "n_trials" else 0)):
            raise SearchConfigError(
                f"study.{key} must be a {'positive ' if key == 'n_trials' else 'non-negative '}number, got {study[key]!r}"
            )


def _range_error(kind: str, values: Any) -> Optional[str]:
    """Why ``values`` is not a valid ``kind`` range (None when it is)."""
    if kind in ("grid", "choice"):
        return None if isinstance(values, list) and values else f"{kind} needs a non-empty list of values"
    if kind in ("uniform", "loguniform"):
        if not (isinstance(values, list) and len(values) == 2 and all(_is_number(v) for v in values)):
            return f"{kind} needs [low, high] with low < high"
        if values[0] >= values[1]:
            return f"{kind} needs [low, high] with low < high"
        return "loguniform needs low > 0" if kind == "loguniform" and values[0] <= 0 else None
    integers = isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if integers and len(values) in (2, 3) and values[0] <= values[1] and (len(values) == 2 or values[2] >= 1):
        return None
    return "int needs [low, high] or [low, high, step] of integers"


def check_parameter(path: Any, spec: Any) -> None:
    """Check one ``parameters`` entry: a dotted path into a known section and exactly one valid range."""
    where = f"parameters.{path}"
    if not isinstance(path, str) or "." not in path:
        raise SearchConfigError(f"{where}: a parameter is a dotted path into the config, e.g. training.learning_rate")
    if path.split(".")[0] not in SECTIONS:
        raise SearchConfigError(
            f"{where}: unknown config section {path.split('.')[0]!r}; known sections: {', '.join(SECTIONS)}"
        )
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in RANGE_KINDS:
        raise SearchConfigError(
            f"{where}: give exactly one range, one of {', '.join(RANGE_KINDS)} (e.g. {{grid: [32, 64]}}), got {spec!r}"
        )
    kind, values = next(iter(spec.items()))
    error = _range_error(kind, values)
    if error:
        raise SearchConfigError(f"{where}: {error}, got {values!r}")


def fill_budget(study: Dict[str, Any], parameters: Mapping[str, Mapping[str, Any]]) -> None:
    """Default Optuna sampler (grid when every range is a grid, else TPE) and budget (the grid's size, else 20)."""
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


def check_against_base(base_config: Mapping[str, Any], parameters: Mapping[str, Mapping[str, Any]]) -> None:
    """Each parameter's first value must leave the base config valid."""
    base = canonical_config(load_config(base_config))
    for path, spec in parameters.items():
        try:
            validate_config(apply_params(base, {path: _first_value(spec)}))
        except ConfigError as err:
            raise SearchConfigError(
                f"parameters.{path}: with its first value {_first_value(spec)!r} the base config is invalid: {err}"
            ) from None


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
    check_study(study)
    parameters = search.get("parameters")
    if not isinstance(parameters, Mapping) or not parameters:
        raise SearchConfigError("parameters must be a non-empty mapping of dotted config paths to ranges")
    for path, spec in parameters.items():
        check_parameter(path, spec)
    fill_budget(study, parameters)
    if base_config is not None:
        check_against_base(base_config, parameters)
    return {"study": study, "parameters": {k: dict(v) for k, v in parameters.items()}}


def encode_choices(values: Sequence[Any]) -> List[Any]:
    """Optuna's categorical choices must be None/bool/int/float/str: other values travel as JSON text."""
    if all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
        return list(values)
    return [json.dumps(v) for v in values]


def decode_choice(values: Sequence[Any], chosen: Any) -> Any:
    encoded = encode_choices(values)
    return values[encoded.index(chosen)] if chosen in encoded else chosen


def suggest(trial, path: str, spec: Mapping[str, Any]) -> Any:
    kind, values = next(iter(spec.items()))
    if kind in ("grid", "choice"):
        return decode_choice(values, trial.suggest_categorical(path, encode_choices(values)))
    if kind == "uniform":
        return trial.suggest_float(path, float(values[0]), float(values[1]))
    if kind == "loguniform":
        return trial.suggest_float(path, float(values[0]), float(values[1]), log=True)
    step = int(values[2]) if len(values) == 3 else 1
    return trial.suggest_int(path, int(values[0]), int(values[1]), step=step)
