"""The input names and shapes of a :class:`~gluonts_diffusion.model.module.DiffusionModel`, as GluonTS's
networks describe them (:class:`gluonts.model.inputs.InputSpec`)."""

from typing import Dict, Literal, Tuple

import torch
from gluonts.model.inputs import Input, InputSpec

from gluonts_diffusion.core.architecture import ArchitectureShapes


def input_spec(
    shapes: ArchitectureShapes,
    target_dim: int,
    past_length: int,
    num_time_features: int,
    batch_size: int = 1,
    stage: Literal["prediction", "training", "denoiser"] = "prediction",
) -> InputSpec:
    """``prediction``: the inputs of ``DiffusionModel.forward`` (the predictor's input names); ``training``: those
    of ``DiffusionModel.loss`` (the training batches); ``denoiser``: those of one network evaluation
    ``(x_t, t, context, future_features)``."""
    if stage == "denoiser":
        spec: Dict[str, Tuple[int, ...]] = {
            "x_t": (batch_size, shapes.length, shapes.channels),
            "t": (batch_size,),
            "context": (batch_size, shapes.context_length, shapes.context_dim),
            "future_features": (batch_size, shapes.prediction_length, shapes.future_dim),
        }
    elif stage in ("prediction", "training"):
        dim = () if target_dim == 1 else (target_dim,)
        spec = {
            "past_target": (batch_size, past_length, *dim),
            "past_observed_values": (batch_size, past_length, *dim),
            "past_time_feat": (batch_size, past_length, num_time_features),
            "future_time_feat": (batch_size, shapes.prediction_length, num_time_features),
        }
        if stage == "training":
            spec["future_target"] = (batch_size, shapes.prediction_length, *dim)
            spec["future_observed_values"] = (batch_size, shapes.prediction_length, *dim)
    else:
        raise ValueError(f"stage must be 'prediction', 'training' or 'denoiser', got {stage!r}")
    return InputSpec({name: Input(shape=shape, dtype=torch.float32) for name, shape in spec.items()}, torch.zeros)
