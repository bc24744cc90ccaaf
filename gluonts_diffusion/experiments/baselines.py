"""GluonTS baselines trained and scored on the same split as the diffusion models."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional


def _seasonal_naive(data, trainer_kwargs, **_):
    from gluonts.model.seasonal_naive import SeasonalNaivePredictor
    from gluonts.time_feature import get_seasonality

    return SeasonalNaivePredictor(prediction_length=data.prediction_length, season_length=get_seasonality(data.freq))


def _deepar(data, trainer_kwargs, context_length=None, batch_size=64, num_batches_per_epoch=50, **_):
    from gluonts.torch.model.deepar import DeepAREstimator

    return DeepAREstimator(
        freq=data.freq,
        prediction_length=data.prediction_length,
        context_length=context_length,
        batch_size=batch_size,
        num_batches_per_epoch=num_batches_per_epoch,
        trainer_kwargs=trainer_kwargs,
    ).train(data.train)


def _simple_feedforward(data, trainer_kwargs, context_length=None, batch_size=64, num_batches_per_epoch=50, **_):
    from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator

    return SimpleFeedForwardEstimator(
        prediction_length=data.prediction_length,
        context_length=context_length,
        batch_size=batch_size,
        num_batches_per_epoch=num_batches_per_epoch,
        trainer_kwargs=trainer_kwargs,
    ).train(data.train)


def _patch_tst(data, trainer_kwargs, context_length=None, batch_size=64, num_batches_per_epoch=50, **_):
    from gluonts.torch.model.patch_tst import PatchTSTEstimator

    return PatchTSTEstimator(
        prediction_length=data.prediction_length,
        context_length=context_length or 4 * data.prediction_length,
        patch_len=16,
        batch_size=batch_size,
        num_batches_per_epoch=num_batches_per_epoch,
        trainer_kwargs=trainer_kwargs,
    ).train(data.train)


#: baseline name -> builder(data, trainer_kwargs, **options) returning a trained predictor
BASELINES: Dict[str, Callable[..., Any]] = {
    "seasonal_naive": _seasonal_naive,
    "deepar": _deepar,
    "simple_feedforward": _simple_feedforward,
    "patch_tst": _patch_tst,
}


def train_baseline(name: str, data, trainer_kwargs: Optional[Dict[str, Any]] = None, **options):
    """Train (or build) GluonTS baseline ``name`` on ``data.train``; unknown names list the known ones."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known baselines: {', '.join(BASELINES)}")
    if data.target_dim > 1:
        raise ValueError(f"baseline {name!r} is univariate; data {data.name!r} is multivariate")
    return BASELINES[name](data, dict(trainer_kwargs or {}), **options)
