"""GluonTS baselines trained and scored on the same split as the diffusion models."""

from __future__ import annotations

import importlib
from typing import Any, Dict, Optional

#: baseline name -> (GluonTS estimator class path, whether it takes ``freq``, fixed extra arguments)
TRAINED_BASELINES: Dict[str, tuple] = {
    "deepar": ("gluonts.torch.model.deepar:DeepAREstimator", True, {}),
    "simple_feedforward": ("gluonts.torch.model.simple_feedforward:SimpleFeedForwardEstimator", False, {}),
    "patch_tst": ("gluonts.torch.model.patch_tst:PatchTSTEstimator", False, {"patch_len": 16}),
}

#: every baseline name ``train_baseline`` knows
BASELINES = ("seasonal_naive", *TRAINED_BASELINES)


def train_baseline(
    name: str,
    data,
    trainer_kwargs: Optional[Dict[str, Any]] = None,
    context_length: Optional[int] = None,
    batch_size: int = 64,
    num_batches_per_epoch: int = 50,
    **_: Any,
):
    """Train (or build) GluonTS baseline ``name`` on ``data.train``; unknown names list the known ones.

    Trained baselines get the diffusion model's context length, batch size and training budget.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known baselines: {', '.join(BASELINES)}")
    if data.target_dim > 1:
        raise ValueError(f"baseline {name!r} is univariate; data {data.name!r} is multivariate")
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
