"""GluonTS baselines trained and scored on the same split, with the same budget, as the diffusion models.

Each baseline takes one kind of target (:data:`BASELINE_TARGETS`): seasonal_naive, deepar, simple_feedforward and
patch_tst forecast univariate series ``(T,)``; i_transformer (GluonTS's torch iTransformer, Liu et al. 2024)
forecasts one multivariate target ``(dim, T)`` (``data.multivariate: true``), sampling ``(num_samples, H, dim)``.
"""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any, Dict, Literal, Mapping, Optional, Tuple, Union

#: baseline name -> (GluonTS estimator class path, whether it takes ``freq``, fixed extra arguments)
TRAINED_BASELINES: Dict[str, tuple] = {
    "deepar": ("gluonts.torch.model.deepar:DeepAREstimator", True, {}),
    "simple_feedforward": ("gluonts.torch.model.simple_feedforward:SimpleFeedForwardEstimator", False, {}),
    "patch_tst": ("gluonts.torch.model.patch_tst:PatchTSTEstimator", False, {"patch_len": 16}),
    "i_transformer": ("gluonts.torch.model.i_transformer:ITransformerEstimator", False, {}),
}

#: every baseline name ``train_baseline`` knows
BASELINES = ("seasonal_naive", *TRAINED_BASELINES)

#: network evaluations per forecast of each baseline (None: no network; "prediction_length": one per step)
BASELINE_NFE: Dict[str, Union[int, str, None]] = {
    "seasonal_naive": None,
    "simple_feedforward": 1,
    "patch_tst": 1,
    "deepar": "prediction_length",
    "i_transformer": 1,
}

Target = Literal["univariate", "multivariate"]

#: the one kind of target each baseline takes; ``train_baseline`` refuses data of the other kind
BASELINE_TARGETS: Dict[str, Target] = {
    "seasonal_naive": "univariate",
    "deepar": "univariate",
    "simple_feedforward": "univariate",
    "patch_tst": "univariate",
    "i_transformer": "multivariate",
}

#: the evaluation keys a baseline shares with the config it is compared with
SPLIT_EVALUATION_KEYS = ("num_series", "num_samples")


def check_baseline(name: str) -> None:
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known baselines: {', '.join(BASELINES)}")


def baselines_for(target: Target) -> Tuple[str, ...]:
    """The baselines that take ``target`` data, in :data:`BASELINES` order."""
    return tuple(name for name in BASELINES if BASELINE_TARGETS[name] == target)


def check_baseline_data(name: str, target_dim: int, dataset: str) -> None:
    """Refuse baseline ``name`` on data it cannot forecast (``target_dim > 1``: multivariate), naming
    the baselines that can."""
    target: Target = "multivariate" if target_dim > 1 else "univariate"
    if BASELINE_TARGETS[name] != target:
        raise ValueError(
            f"baseline {name!r} is {BASELINE_TARGETS[name]}; data {dataset!r} is {target} "
            f"({target} baselines: {', '.join(baselines_for(target))})"
        )


def baseline_config(config: Mapping[str, Any], name: str, seed: int) -> Dict[str, Any]:
    """The ``baseline`` experiment config comparing baseline ``name`` with ``config``: the same data
    section (hence split), training budget, ``evaluation.num_series`` / ``num_samples`` and seed."""
    evaluation = config.get("evaluation") or {}
    return {
        "experiment": {"name": name, "type": "baseline", "params": {"baseline": name}, "seed": int(seed)},
        "data": copy.deepcopy(dict(config["data"])),
        "training": copy.deepcopy(dict(config.get("training") or {})),
        "evaluation": {k: evaluation.get(k) for k in SPLIT_EVALUATION_KEYS},
    }


def baseline_training(config: Mapping[str, Any], root_dir: Path) -> Dict[str, Any]:
    """``train_baseline`` keyword arguments from a config: its epochs (default 100), batches per epoch,
    batch size, context (``data.context_length``), accelerator and precision; one device, quiet, no logger."""
    training = config.get("training") or {}
    options: Dict[str, Any] = {}
    if training.get("num_batches_per_epoch"):
        options["num_batches_per_epoch"] = int(training["num_batches_per_epoch"])
    if training.get("batch_size"):
        options["batch_size"] = int(training["batch_size"])
    if (config.get("data") or {}).get("context_length"):
        options["context_length"] = int(config["data"]["context_length"])
    trainer_kwargs = {
        "max_epochs": int(training.get("max_epochs") or 100),
        "default_root_dir": str(root_dir),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "devices": 1,
    }
    for name in ("accelerator", "precision"):
        if training.get(name) is not None:
            trainer_kwargs[name] = training[name]
    return {"trainer_kwargs": trainer_kwargs, **options}


def train_baseline(
    name: str,
    data,
    trainer_kwargs: Optional[Dict[str, Any]] = None,
    context_length: Optional[int] = None,
    batch_size: int = 64,
    num_batches_per_epoch: int = 50,
):
    """Train (or build) GluonTS baseline ``name`` on ``data.train``; unknown names list the known ones, and a
    baseline refuses data of the other kind (:func:`check_baseline_data`)."""
    check_baseline(name)
    check_baseline_data(name, data.target_dim, data.name)
    if name == "seasonal_naive":
        from gluonts.model.seasonal_naive import SeasonalNaivePredictor
        from gluonts.time_feature import get_seasonality

        return SeasonalNaivePredictor(
            prediction_length=data.prediction_length, season_length=get_seasonality(data.freq)
        )
    path, takes_freq, extra = TRAINED_BASELINES[name]
    module, cls = path.split(":")
    estimator_cls = getattr(importlib.import_module(module), cls)
    kwargs = dict(
        prediction_length=data.prediction_length,
        context_length=context_length or 4 * data.prediction_length,
        batch_size=batch_size,
        num_batches_per_epoch=num_batches_per_epoch,
        trainer_kwargs=dict(trainer_kwargs or {}),
        **extra,
    )
    if takes_freq:
        kwargs["freq"] = data.freq
    return estimator_cls(**kwargs).train(data.train)


def baseline_size(name: str, predictor, prediction_length: int) -> Tuple[Optional[int], int]:
    """``(nfe, num_parameters)`` of a trained baseline (``num_parameters`` 0 without a network)."""
    import torch

    from gluonts_diffusion.model.resampling import count_parameters

    per_forecast = BASELINE_NFE.get(name, 1)
    nfe = int(prediction_length) if per_forecast == "prediction_length" else per_forecast
    net = getattr(predictor, "prediction_net", None)
    return (None if nfe is None else int(nfe)), (count_parameters(net) if isinstance(net, torch.nn.Module) else 0)
