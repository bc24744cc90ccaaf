"""The model-facing part of the YAML config: ``components``, ``data``, ``training`` and ``model``.

```yaml
components:                       # each: {name: <registry name>, params: {...}}, or just the name
  architecture: {name: transformer, params: {model_dim: 64, condition_dropout: 0.1}}
  sampler: {name: ddim, params: {num_steps: 50}}
data: {dataset: m4_hourly, context_length: 192, prediction_length: 48, path: ..., multivariate: false}
training: {batch_size: 64, lr: 1e-3, max_epochs: 20, num_batches_per_epoch: 50, ...}
model: {num_parallel_samples: 100, guidance_scale: 1.0, ...}
```
The keys are :class:`DiffusionEstimator`'s words; the seed's words are accepted as aliases (:data:`ALIASES`:
``type`` for ``name``, ``history_len``, ``predict_len``, ``learning_rate``, ``num_epochs``). Giving a key and
its alias together is an error naming both.

:func:`validate_model_config` checks these four sections (the other sections belong to the caller, e.g.
:mod:`gluonts_diffusion.experiments.config`); :func:`estimator_from_config` is the one road from a
validated config to an estimator.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import yaml

from gluonts_diffusion.core.base import COMPONENT_KINDS

from .specs import ComponentError, component_spec

ConfigSource = Union[str, Path, Mapping[str, Any]]

#: keys each model section accepts (value: a short description used in error messages)
MODEL_SECTIONS: Dict[str, Dict[str, str]] = {
    "components": {kind: f"the {kind} component" for kind in COMPONENT_KINDS},
    "data": {
        "dataset": "GluonTS dataset name or folder",
        "context_length": "history the model sees",
        "prediction_length": "forecast horizon (default: the dataset's)",
        "path": "folder holding datasets",
        "freq": "frequency (default: the dataset's)",
        "multivariate": "group the series into one multivariate target",
        "max_series": "use only the first N training series",
    },
    "training": {
        "batch_size": "series windows per batch",
        "lr": "AdamW learning rate",
        "max_epochs": "epochs",
        "num_batches_per_epoch": "batches per epoch",
        "weight_decay": "AdamW weight decay",
        "ema_decay": "EMA decay of the sampling weights (null: off)",
        "patience": "epochs before the learning rate halves",
        "gradient_clip_val": "gradient clipping",
        "accelerator": "Lightning accelerator",
        "devices": "Lightning devices",
        "strategy": "Lightning strategy: a name (ddp, ddp_spawn, fsdp, ...) or {type: ddp, <DDPStrategy arguments>}",
        "num_nodes": "Lightning nodes",
        "precision": "Lightning precision (e.g. bf16-mixed)",
        "validation": "hold out the last prediction window (true) or N windows of each training series: they "
        "choose the checkpoint, LR schedule and ensemble weights, and give the val_ metrics",
        "calibration": "post-hoc calibration fitted on the validation windows after training (spread or quantile; "
        "default off, also for DiffusionEstimator.from_config)",
        "trainer_kwargs": "any other lightning.pytorch.Trainer argument",
    },
    "model": {
        "num_parallel_samples": "sample paths per network call",
        "condition_dropout": "classifier-free guidance: unconditional training rate",
        "guidance_scale": "classifier-free guidance scale",
        "lags_seq": "lags of the target used as features",
        "predict_batch_size": "series per prediction batch",
        "compile": "torch.compile the architecture (true, or a dict of torch.compile arguments)",
        "gradient_checkpointing": "recompute the architecture's blocks in the backward pass to save memory",
        "clip_x0": "keep sampled x0 within k history ranges of the scaled context (null: off)",
        "imputation": "train on CSDI's masks so the predictor also imputes: true, or its anchor: bridge, linear, none",
        "forecast_anchor": "without imputation: none, linear or bridge (imputation's anchors, from the last value)",
    },
}

#: the seed's keys, accepted as aliases of the canonical keys: {section: {alias: canonical}};
#: ``component`` is the mapping of each ``components.<kind>`` entry
ALIASES: Dict[str, Dict[str, str]] = {
    "data": {"history_len": "context_length", "predict_len": "prediction_length"},
    "training": {"learning_rate": "lr", "num_epochs": "max_epochs"},
    "component": {"type": "name"},
}

#: numeric keys: (type, minimum)
NUMBERS: Dict[str, Dict[str, Tuple[type, float]]] = {
    "data": {"context_length": (int, 1), "prediction_length": (int, 1)},
    "training": {
        "batch_size": (int, 1),
        "max_epochs": (int, 1),
        "num_batches_per_epoch": (int, 1),
        "lr": (float, 0),
        "weight_decay": (float, 0),
        "num_nodes": (int, 1),
    },
    "model": {"clip_x0": (float, 0)},
}

#: architecture parameters of the seed's format that are model-level settings here
MODEL_LEVEL_ARCHITECTURE_PARAMS = ("condition_dropout", "guidance_scale")

#: ``training`` keys that are estimator arguments of the same name, with their types
TRAINING_ARGUMENTS = {
    "batch_size": int,
    "lr": float,
    "num_batches_per_epoch": int,
    "weight_decay": float,
    "patience": int,
}

#: ``training`` keys passed on to the Lightning trainer unchanged
TRAINER_KEYS = ("gradient_clip_val", "accelerator", "devices", "num_nodes", "precision")


class ConfigError(ValueError):
    """An invalid configuration; the message names the offending key."""


def load_config(source: ConfigSource) -> Dict[str, Any]:
    """Read a YAML file (or copy a mapping) into a plain dict; does not validate."""
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(config).__name__}")
    return config


def canonical(section: Optional[Mapping[str, Any]], aliases: Mapping[str, str], where: str) -> Dict[str, Any]:
    """``section`` with every alias renamed to its canonical key; a key given together with its alias is refused."""
    out: Dict[str, Any] = {}
    for key, value in (section or {}).items():
        name = aliases.get(key, key)
        if name in out or (name != key and name in (section or {})):
            raise ConfigError(f"{where}: {key!r} is an alias of {name!r}; give one of them, not both")
        out[name] = value
    return out


def config_value(config: Mapping[str, Any], section: str, key: str, default: Any = None) -> Any:
    """The value of canonical ``section.key``, whether the config writes the key or its alias."""
    value = canonical(config.get(section), ALIASES.get(section, {}), section).get(key)
    return default if value is None else value


def written_key(section: Mapping[str, Any], section_name: str, key: str) -> str:
    """The key a config section uses for canonical ``key``: its alias if the section writes that, else ``key``."""
    aliases = [alias for alias, name in ALIASES.get(section_name, {}).items() if name == key and alias in section]
    return aliases[0] if aliases and key not in section else key


def component_entry(config: Mapping[str, Any], kind: str) -> Dict[str, Any]:
    """``components.<kind>`` as ``{"name": registry name or None, "params": {...}}``."""
    entry = (config.get("components") or {}).get(kind)
    if entry is None or isinstance(entry, str):
        return {"name": entry, "params": {}}
    where = f"components.{kind}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping with 'name' and 'params', got {entry!r}")
    entry = canonical(entry, ALIASES["component"], where)
    extra = set(entry) - {"name", "params"}
    if extra:
        raise ConfigError(
            f"{where}: unknown key {sorted(extra)[0]!r}; a component has 'name' (alias 'type') and 'params'"
        )
    params = entry.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.params must be a mapping, got {params!r}")
    return {"name": entry.get("name"), "params": dict(params)}


def check_sections(config: Mapping[str, Any], sections: Mapping[str, Mapping[str, str]]) -> None:
    """Each of ``sections`` present in ``config`` is a mapping of known keys (or their aliases)."""
    for section, keys in sections.items():
        value = config.get(section)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"section {section!r} must be a mapping, got {value!r}")
        aliases = ALIASES.get(section, {})
        for key in value or {}:
            if key not in keys and key not in aliases:
                note = f" (aliases: {', '.join(f'{a} for {c}' for a, c in aliases.items())})" if aliases else ""
                raise ConfigError(f"unknown key {section}.{key}; known keys: {', '.join(keys)}{note}")


def check_number(section: Mapping[str, Any], key: str, where: str, kind: type = float, minimum=None) -> None:
    """``section[key]``, if set, reads as a ``kind`` (YAML reads 1e-4 as a string) of at least ``minimum``."""
    if section.get(key) is None:
        return
    try:
        value = kind(section[key])
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.{key} must be a {kind.__name__}, got {section[key]!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}.{key} must be >= {minimum}, got {value}")


def validate_model_config(source: ConfigSource) -> Dict[str, Any]:
    """Check the model sections of a config before any training; returns the config as a dict.

    Names the bad key, the unknown component (with the known ones), the wrong parameter or the
    incompatible pair; builds each component once, so value errors surface too. Raises :class:`ConfigError`.
    """
    config = load_config(source)
    check_sections(config, MODEL_SECTIONS)
    data = canonical(config.get("data"), ALIASES["data"], "data")
    if not data.get("dataset"):
        raise ConfigError("data.dataset is required (a GluonTS dataset name such as m4_hourly)")
    for section in NUMBERS:
        written = config.get(section) or {}
        aliases = ALIASES.get(section, {})
        for key in written:
            if aliases.get(key, key) in NUMBERS[section]:
                kind, minimum = NUMBERS[section][aliases.get(key, key)]
                check_number(written, key, section, kind, minimum)
    canonical(config.get("training"), ALIASES["training"], "training")
    _check_strategy((config.get("training") or {}).get("strategy"))
    validation_windows(config)
    _check_components(config)
    return canonical_config(config)


def canonical_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy of ``config`` in the canonical vocabulary: the seed's aliases in ``data`` and ``training`` renamed,
    every component written ``{name, params}``. Validated configs are canonical, so code after validation
    reads only the canonical keys."""
    out = copy.deepcopy(dict(config))
    for section in ("data", "training"):
        if out.get(section) is not None:
            out[section] = canonical(out[section], ALIASES[section], section)
    if out.get("components") is not None:
        out["components"] = {kind: component_entry(out, kind) for kind in out["components"]}
    return out


def canonical_path(path: str) -> str:
    """The canonical spelling of a dotted config path (``training.learning_rate`` -> ``training.lr``,
    ``components.sampler.type`` -> ``components.sampler.name``)."""
    keys = path.split(".")
    if len(keys) == 2 and keys[0] in ("data", "training"):
        keys[1] = ALIASES[keys[0]].get(keys[1], keys[1])
    elif len(keys) == 3 and keys[0] == "components":
        keys[2] = ALIASES["component"].get(keys[2], keys[2])
    return ".".join(keys)


def validation_windows(config: Mapping[str, Any]) -> int:
    """The validation windows per training series ``training.validation`` asks for: 0 when unset or false, 1 for
    true, else the number given (an integer >= 1); anything else is a :class:`ConfigError`."""
    value = (config.get("training") or {}).get("validation")
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int) and value >= 1:
        return value
    raise ConfigError(f"training.validation must be true, false or a number of windows >= 1, got {value!r}")


def _check_strategy(strategy: Any) -> None:
    if strategy is not None and not isinstance(strategy, (str, Mapping)):
        raise ConfigError(f"training.strategy must be a name or a mapping with 'type', got {strategy!r}")
    if isinstance(strategy, Mapping) and strategy.get("type", "ddp") not in (*_DDP_NAMES, "fsdp"):
        raise ConfigError(
            f"training.strategy.type must be one of {', '.join(_DDP_NAMES)}, fsdp, got {strategy.get('type')!r}"
        )


def _component_params(config: Mapping[str, Any], kind: str) -> Tuple[Optional[str], Dict[str, Any], Dict[str, Any]]:
    """Name (None: the default), parameters and model-level settings (guidance, which the seed's format writes
    among the architecture's parameters) of one component kind."""
    entry = component_entry(config, kind)
    params = entry["params"]
    model_level = {k: params.pop(k) for k in MODEL_LEVEL_ARCHITECTURE_PARAMS if kind == "architecture" and k in params}
    return entry["name"], params, model_level


def _check_components(config: Mapping[str, Any]) -> None:
    """The estimator's own check (:func:`component_spec`), its errors named by their config section."""
    choices = {kind: _component_params(config, kind)[:2] for kind in COMPONENT_KINDS}
    try:
        component_spec({k: name for k, (name, _) in choices.items()}, {k: p for k, (_, p) in choices.items()})
    except ComponentError as err:
        raise ConfigError(f"components.{err.kind}: {err.reason}" if err.kind else err.reason) from None


#: DDP flavours whose Lightning name has a ``_find_unused_parameters_true`` variant
_DDP_NAMES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")


def lightning_strategy(strategy: Any) -> Any:
    """The Lightning ``strategy`` for ``training.strategy``.

    DDP needs ``find_unused_parameters``: the classifier-free-guidance null embedding and other
    conditional parameters get no gradient in some steps, so ``ddp`` (and ``ddp_spawn``, ``ddp_fork``,
    ``ddp_notebook``) map to their ``*_find_unused_parameters_true`` variants. A mapping
    ``{type: ddp, process_group_backend: gloo, ...}`` builds ``DDPStrategy(**arguments)`` (or
    ``FSDPStrategy`` for ``type: fsdp``); any other value goes to Lightning unchanged.
    """
    if isinstance(strategy, str):
        return f"{strategy}_find_unused_parameters_true" if strategy in _DDP_NAMES else strategy
    if not isinstance(strategy, Mapping):
        return strategy
    options = dict(strategy)
    name = options.pop("type", "ddp")
    _check_strategy({"type": name})
    if name == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(**options)
    from lightning.pytorch.strategies import DDPStrategy

    options.setdefault("find_unused_parameters", True)
    if name != "ddp":
        options.setdefault("start_method", name.split("_", 1)[1])
    return DDPStrategy(**options)


def trainer_kwargs(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The Lightning ``Trainer`` arguments of a config's ``training`` section."""
    training = canonical(config.get("training"), ALIASES["training"], "training")
    trainer = dict(training.get("trainer_kwargs") or {})
    if training.get("max_epochs") is not None:
        trainer["max_epochs"] = int(training["max_epochs"])
    trainer.update({key: training[key] for key in TRAINER_KEYS if training.get(key) is not None})
    if training.get("strategy") is not None:
        trainer["strategy"] = lightning_strategy(training["strategy"])
    return trainer


def estimator_kwargs(
    config: Mapping[str, Any], freq: str, prediction_length: int, target_dim: int = 1
) -> Dict[str, Any]:
    """Map a validated config onto :class:`DiffusionEstimator` arguments."""
    kwargs: Dict[str, Any] = {"freq": freq, "prediction_length": prediction_length, "target_dim": target_dim}
    for kind in COMPONENT_KINDS:
        name, params, model_level = _component_params(config, kind)
        kwargs.update(model_level)
        if name:
            kwargs[kind] = name
        kwargs[f"{kind}_kwargs"] = params
    context_length = config_value(config, "data", "context_length")
    if context_length:
        kwargs["context_length"] = int(context_length)
    training = canonical(config.get("training"), ALIASES["training"], "training")
    kwargs.update(
        {key: cast(training[key]) for key, cast in TRAINING_ARGUMENTS.items() if training.get(key) is not None}
    )
    kwargs["calibration"] = training.get("calibration") or None  # a config says what it fits (run: after training)
    if "ema_decay" in training:
        kwargs["ema_decay"] = None if training["ema_decay"] is None else float(training["ema_decay"])
    kwargs.update({key: value for key, value in (config.get("model") or {}).items() if value is not None})
    kwargs["trainer_kwargs"] = trainer_kwargs(config)
    return kwargs


def dataset_shape(config: Mapping[str, Any], dataset_path: Optional[Union[str, Path]] = None) -> Dict[str, Any]:
    """``freq``, ``prediction_length`` and ``target_dim`` of a config: ``data.freq`` / ``data.prediction_length``,
    else the dataset's metadata (found through ``dataset_path``, ``data.path`` or ``$GLUONTS_DIFFUSION_DATA``)."""
    from gluonts_diffusion.data.datasets import dataset_metadata, resolve_data_path

    data = canonical(config.get("data"), ALIASES["data"], "data")
    shape = {"freq": data.get("freq"), "prediction_length": data.get("prediction_length"), "target_dim": 1}
    if not shape["freq"] or not shape["prediction_length"] or data.get("multivariate"):
        path = resolve_data_path(dataset_path, data.get("path"))
        meta = dataset_metadata(data["dataset"], path, bool(data.get("multivariate")))
        shape = {key: shape[key] if key != "target_dim" and shape[key] else meta[key] for key in shape}
    shape["prediction_length"] = int(shape["prediction_length"])
    return shape


def estimator_arguments(
    config: Mapping[str, Any],
    dataset_path: Optional[Union[str, Path]] = None,
    trainer_defaults: Optional[Mapping[str, Any]] = None,
    **overrides: Any,
) -> Dict[str, Any]:
    """The :class:`~gluonts_diffusion.model.estimator.DiffusionEstimator` arguments of a validated config (see
    :func:`validate_model_config`): the one road from a config to an estimator.

    ``freq``, ``prediction_length`` and ``target_dim`` come from ``overrides``, else from
    :func:`dataset_shape`; ``trainer_defaults`` fill Trainer arguments the config leaves unset;
    ``overrides`` replace any resulting estimator argument.
    """
    shape = {key: overrides.pop(key) for key in ("freq", "prediction_length", "target_dim") if key in overrides}
    if len(shape) < 3:
        shape = {**dataset_shape(config, dataset_path), **shape}
    kwargs = estimator_kwargs(config, **shape)
    for key, value in (trainer_defaults or {}).items():
        kwargs["trainer_kwargs"].setdefault(key, value)
    kwargs.update(overrides)
    return kwargs
