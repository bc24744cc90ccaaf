"""The YAML experiment format (see ``configs/experiment.yaml``) and its validation.

```yaml
experiment: {name: ..., description: ..., seed: 0, type: forecast}   # type: Registry.list("experiment")
components:                       # each: {type: <registry name>, params: {...}}
  preprocessing: {type: raw}
  architecture: {type: transformer, params: {model_dim: 64, condition_dropout: 0.1}}
  noise: {type: standard}
  sde: {type: vpsde, params: {beta_min: 0.1, beta_max: 20.0}}
  objective: {type: denoising}
  sampler: {type: ddim, params: {num_steps: 50}}
data: {dataset: m4_hourly, history_len: 192, predict_len: 48, path: ..., multivariate: false}
training: {batch_size: 64, learning_rate: 1e-3, num_epochs: 20, num_batches_per_epoch: 50, ...}
evaluation: {num_samples: 100, num_series: null, baselines: [seasonal_naive]}
```
``validate_config`` runs before any training and names the bad key, the unknown component (with
the known ones) or the wrong parameter.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Mapping, Union

import yaml

from gluonts_diffusion.core.base import COMPONENT_KINDS
from gluonts_diffusion.core.registry import Registry, RegistryError

#: keys each section accepts (value: a short description used in error messages)
SECTIONS: Dict[str, Dict[str, str]] = {
    "experiment": {
        "name": "run name",
        "description": "free text",
        "seed": "random seed",
        "tags": "labels",
        "type": "registered experiment type (default forecast; see Registry.list('experiment'))",
        "params": "parameters of the experiment type",
    },
    "components": {kind: f"the {kind} component" for kind in COMPONENT_KINDS},
    "data": {
        "dataset": "GluonTS dataset name or folder",
        "history_len": "context length",
        "predict_len": "prediction length (default: the dataset's)",
        "path": "folder holding datasets",
        "freq": "frequency (default: the dataset's)",
        "multivariate": "group the series into one multivariate target",
        "max_series": "use only the first N training series",
    },
    "training": {
        "batch_size": "series windows per batch",
        "learning_rate": "AdamW learning rate",
        "num_epochs": "epochs",
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
        "validation": "hold out the last prediction window of each training series for validation",
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
    },
    "evaluation": {
        "num_samples": "sample paths per forecast",
        "num_series": "evaluate only the first N test series",
        "baselines": "GluonTS baselines to compare with",
        "plot_series": "series shown in the forecast plot",
    },
    "logging": {"tensorboard": "write TensorBoard logs", "output_dir": "where runs are written"},
    "wandb": {"enabled": "log to Weights & Biases", "project": "project", "mode": "online/offline", "entity": "team"},
}

#: architecture parameters of the seed's format that are model-level settings here
MODEL_LEVEL_ARCHITECTURE_PARAMS = ("condition_dropout", "guidance_scale")


class ConfigError(ValueError):
    """An invalid experiment configuration; the message names the offending key."""


def load_config(source: Union[str, Path, Mapping[str, Any]]) -> Dict[str, Any]:
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


def _component(config: Mapping[str, Any], kind: str) -> Dict[str, Any]:
    entry = (config.get("components") or {}).get(kind)
    if entry is None:
        return {}
    if isinstance(entry, str):
        return {"type": entry, "params": {}}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"components.{kind} must be a mapping with 'type' and 'params', got {entry!r}")
    extra = set(entry) - {"type", "params"}
    if extra:
        raise ConfigError(f"components.{kind}: unknown key {sorted(extra)[0]!r}; a component has 'type' and 'params'")
    params = entry.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"components.{kind}.params must be a mapping, got {params!r}")
    return {"type": entry.get("type"), "params": dict(params)}


def _number(section: Mapping[str, Any], key: str, where: str, kind=float, minimum=None) -> None:
    if key not in section or section[key] is None:
        return
    value = section[key]
    try:
        value = kind(value)  # YAML reads 1e-4 as a string
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.{key} must be a {kind.__name__}, got {section[key]!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}.{key} must be >= {minimum}, got {value}")


def validate_config(source: Union[str, Path, Mapping[str, Any]]) -> Dict[str, Any]:
    """Check a config before any training; returns it as a dict or raises :class:`ConfigError`.

    Checks the sections and their keys, every component's name and parameters (building each
    component once, so value errors surface too) and the compatibility of the combination.
    """
    from gluonts_diffusion.model.components import DEFAULT_COMPONENTS, compatibility_errors

    config = load_config(source)
    for section, value in config.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r}; known sections: {', '.join(SECTIONS)}")
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"section {section!r} must be a mapping, got {value!r}")
        for key in value or {}:
            if key not in SECTIONS[section]:
                raise ConfigError(f"unknown key {section}.{key}; known keys: {', '.join(SECTIONS[section])}")
    data = config.get("data") or {}
    if not data.get("dataset"):
        raise ConfigError("data.dataset is required (a GluonTS dataset name such as m4_hourly)")
    _number(data, "history_len", "data", int, 1)
    _number(data, "predict_len", "data", int, 1)
    training = config.get("training") or {}
    _number(training, "batch_size", "training", int, 1)
    _number(training, "num_epochs", "training", int, 1)
    _number(training, "num_batches_per_epoch", "training", int, 1)
    _number(training, "learning_rate", "training", float, 0)
    _number(training, "weight_decay", "training", float, 0)
    _number(training, "num_nodes", "training", int, 1)
    strategy = training.get("strategy")
    if strategy is not None and not isinstance(strategy, (str, Mapping)):
        raise ConfigError(f"training.strategy must be a name or a mapping with 'type', got {strategy!r}")
    if isinstance(strategy, Mapping) and strategy.get("type", "ddp") not in (*_DDP_NAMES, "fsdp"):
        raise ConfigError(
            f"training.strategy.type must be one of {', '.join(_DDP_NAMES)}, fsdp, got {strategy.get('type')!r}"
        )
    _number(config.get("evaluation") or {}, "num_samples", "evaluation", int, 1)
    experiment = config.get("experiment") or {}
    _number(experiment, "seed", "experiment", int, 0)
    if experiment.get("type") is not None:
        try:
            Registry.get_class("experiment", str(experiment["type"]))
        except RegistryError as err:
            raise ConfigError(f"experiment.type: {err}") from None
    if experiment.get("params") is not None and not isinstance(experiment["params"], Mapping):
        raise ConfigError(f"experiment.params must be a mapping, got {experiment['params']!r}")

    built = {}
    for kind in COMPONENT_KINDS:
        entry = _component(config, kind)
        name = entry.get("type") or DEFAULT_COMPONENTS[kind]
        params = dict(entry.get("params") or {})
        if kind == "architecture":
            for key in MODEL_LEVEL_ARCHITECTURE_PARAMS:
                params.pop(key, None)
        try:
            Registry.get_class(kind, name)
            Registry.check_params(kind, name, params)
            if kind != "architecture":  # the architecture needs data shapes: checked when the model is built
                built[kind] = Registry.get(kind, name, **params)
        except (RegistryError, ValueError) as err:
            raise ConfigError(f"components.{kind}: {err}") from None
    for reason in compatibility_errors(built):
        raise ConfigError(f"incompatible components: {reason}")
    return config


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
    if isinstance(strategy, Mapping):
        options = dict(strategy)
        name = options.pop("type", "ddp")
        if name in _DDP_NAMES:
            from lightning.pytorch.strategies import DDPStrategy

            options.setdefault("find_unused_parameters", True)
            if name != "ddp":
                options.setdefault("start_method", name.split("_", 1)[1])
            return DDPStrategy(**options)
        if name == "fsdp":
            from lightning.pytorch.strategies import FSDPStrategy

            return FSDPStrategy(**options)
        raise ConfigError(f"training.strategy.type must be one of {', '.join(_DDP_NAMES)}, fsdp, got {name!r}")
    return strategy


def estimator_kwargs(
    config: Mapping[str, Any], freq: str, prediction_length: int, target_dim: int = 1
) -> Dict[str, Any]:
    """Map a validated config onto :class:`DiffusionEstimator` arguments."""
    kwargs: Dict[str, Any] = {"freq": freq, "prediction_length": prediction_length, "target_dim": target_dim}
    for kind in COMPONENT_KINDS:
        entry = _component(config, kind)
        params = dict(entry.get("params") or {})
        if kind == "architecture":
            for key in MODEL_LEVEL_ARCHITECTURE_PARAMS:
                if key in params:
                    kwargs[key] = params.pop(key)
        if entry.get("type"):
            kwargs[kind] = entry["type"]
        kwargs[f"{kind}_kwargs"] = params
    data, training, model = (config.get(s) or {} for s in ("data", "training", "model"))
    if data.get("history_len"):
        kwargs["context_length"] = int(data["history_len"])
    for key, target, cast in (
        ("batch_size", "batch_size", int),
        ("learning_rate", "lr", float),
        ("num_batches_per_epoch", "num_batches_per_epoch", int),
        ("weight_decay", "weight_decay", float),
        ("patience", "patience", int),
    ):
        if training.get(key) is not None:
            kwargs[target] = cast(training[key])
    if "ema_decay" in training:
        kwargs["ema_decay"] = None if training["ema_decay"] is None else float(training["ema_decay"])
    for key in (
        "num_parallel_samples",
        "condition_dropout",
        "guidance_scale",
        "lags_seq",
        "predict_batch_size",
        "compile",
        "gradient_checkpointing",
    ):
        if model.get(key) is not None:
            kwargs[key] = model[key]
    trainer = dict(training.get("trainer_kwargs") or {})
    if training.get("num_epochs") is not None:
        trainer["max_epochs"] = int(training["num_epochs"])
    for key in ("gradient_clip_val", "accelerator", "devices", "num_nodes", "precision"):
        if training.get(key) is not None:
            trainer[key] = training[key]
    if training.get("strategy") is not None:
        trainer["strategy"] = lightning_strategy(training["strategy"])
    kwargs["trainer_kwargs"] = trainer
    return kwargs
