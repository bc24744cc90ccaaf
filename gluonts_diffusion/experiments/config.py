"""The YAML experiment format (see ``configs/quickstart.yaml``) and its validation.

```yaml
experiment: {name: ..., description: ..., seed: 0, type: forecast}   # type: Registry.list("experiment")
components: ...                   # the model sections: see gluonts_diffusion.model.config
data: ...
training: ...
model: ...
evaluation: {num_samples: 100, num_series: null, baselines: [seasonal_naive], test: true}
logging: {tensorboard: true, output_dir: experiments/runs}
wandb: {enabled: false, project: ..., mode: offline}
```
This module owns the experiment-level sections (``experiment``, ``evaluation``, ``logging``, ``wandb``) and
delegates the model sections to :mod:`gluonts_diffusion.model.config`. :func:`validate_config` runs before
any training (once per run, in :class:`BaseExperiment`) and names the bad key, the unknown component (with
the known ones) or the wrong parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from gluonts_diffusion.core.registry import Registry, RegistryError
from gluonts_diffusion.data.datasets import check_dataset, resolve_data_path
from gluonts_diffusion.model.config import (
    MODEL_SECTIONS,
    ConfigError,
    ConfigSource,
    check_number,
    check_sections,
    estimator_kwargs,
    lightning_strategy,
    load_config,
    validate_model_config,
    validation_windows,
)

__all__ = [
    "SECTIONS",
    "ConfigError",
    "calibration_method",
    "check_config_dataset",
    "estimator_kwargs",
    "experiment_class",
    "lightning_strategy",
    "load_config",
    "validate_config",
    "validation_windows",
]

#: keys of the experiment-level sections (value: a short description used in error messages)
EXPERIMENT_SECTIONS: Dict[str, Dict[str, str]] = {
    "experiment": {
        "name": "run name",
        "description": "free text",
        "seed": "random seed",
        "tags": "labels",
        "type": "registered experiment type (default forecast; see Registry.list('experiment'))",
        "params": "parameters of the experiment type",
    },
    "evaluation": {
        "num_samples": "sample paths per forecast",
        "num_series": "evaluate only the first N test series",
        "baselines": "GluonTS baselines to compare with",
        "plot_series": "series shown in the forecast plot",
        "test": "read and score the test split (false: only the validation windows, as search trials do)",
    },
    "logging": {"tensorboard": "write TensorBoard logs", "output_dir": "where runs are written"},
    "wandb": {"enabled": "log to Weights & Biases", "project": "project", "mode": "online/offline", "entity": "team"},
}

#: every section of an experiment config, in the order a config lists them
SECTIONS: Dict[str, Dict[str, str]] = {
    "experiment": EXPERIMENT_SECTIONS["experiment"],
    **MODEL_SECTIONS,
    **{name: keys for name, keys in EXPERIMENT_SECTIONS.items() if name != "experiment"},
}


def experiment_class(config: Mapping[str, Any]) -> type:
    """The registered experiment class ``experiment.type`` names (default ``forecast``)."""
    name = (config.get("experiment") or {}).get("type") or "forecast"
    try:
        return Registry.get_class("experiment", str(name))
    except RegistryError as err:
        raise ConfigError(f"experiment.type: {err}") from None


def validate_config(source: ConfigSource) -> Dict[str, Any]:
    """Check an experiment config before any training; returns it in the canonical vocabulary (see
    :func:`~gluonts_diffusion.model.config.canonical_config`) or raises :class:`ConfigError`.

    Checks the sections and their keys, the model sections (see
    :func:`~gluonts_diffusion.model.config.validate_model_config`) and the experiment type.
    """
    config = load_config(source)
    for section in config:
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r}; known sections: {', '.join(SECTIONS)}")
    check_sections(config, EXPERIMENT_SECTIONS)
    config = validate_model_config(config)
    evaluation = config.get("evaluation") or {}
    check_number(evaluation, "num_samples", "evaluation", int, 1)
    if evaluation.get("test") not in (None, True, False):
        raise ConfigError(f"evaluation.test must be true or false, got {evaluation['test']!r}")
    if evaluation.get("test") is False and not validation_windows(config):
        raise ConfigError("evaluation.test: false leaves nothing to score without training.validation; set both")
    calibration_method(config)
    experiment = config.get("experiment") or {}
    check_number(experiment, "seed", "experiment", int, 0)
    experiment_class(config)
    if experiment.get("params") is not None and not isinstance(experiment["params"], Mapping):
        raise ConfigError(f"experiment.params must be a mapping, got {experiment['params']!r}")
    return config


def calibration_method(config: Mapping[str, Any]) -> Optional[str]:
    """The post-hoc calibration ``training.calibration`` asks for (None when unset or false); it needs
    ``training.validation``, whose windows it is fitted on."""
    from gluonts_diffusion.model.calibration import METHODS

    value = (config.get("training") or {}).get("calibration")
    if value is None or value is False:
        return None
    if value not in METHODS:
        raise ConfigError(f"training.calibration must be false or one of {', '.join(METHODS)}, got {value!r}")
    if not validation_windows(config):
        raise ConfigError("training.calibration is fitted on the validation windows: set training.validation too")
    return str(value)


def check_config_dataset(config: Mapping[str, Any], dataset_path: Optional[Union[str, Path]] = None) -> None:
    """``data.dataset`` names a folder under the dataset folder (``dataset_path``, ``data.path`` or
    ``$GLUONTS_DIFFUSION_DATA``) or a GluonTS repository name; reads and downloads nothing."""
    data = config.get("data") or {}
    try:
        check_dataset(str(data.get("dataset")), resolve_data_path(dataset_path, data.get("path")))
    except FileNotFoundError as err:
        raise ConfigError(f"data.dataset: {err}") from None
