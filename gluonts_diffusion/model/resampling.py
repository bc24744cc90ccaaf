"""Re-using a trained predictor with another sampler: one model, many samplers, no retraining."""

from __future__ import annotations

import copy
import warnings
from typing import Any, Dict, Literal, Optional, Union

from gluonts.torch.model.predictor import PyTorchPredictor
from torch import nn

from .lightning_module import DiffusionLightningModule
from .predictor import DiffusionPredictor
from .specs import component_spec


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def with_sampler(
    predictor: PyTorchPredictor,
    sampler: Optional[str] = None,
    sampler_kwargs: Optional[Dict[str, Any]] = None,
    num_parallel_samples: Optional[int] = None,
    guidance_scale: Optional[float] = None,
    clip_x0: Union[float, Literal[False], None] = None,
) -> DiffusionPredictor:
    """A new predictor with the same trained weights and another sampler (and/or sample count,
    guidance scale, ``clip_x0``: a number sets it, ``False`` turns it off). The original predictor is left
    unchanged; the new one serializes like any other. ``None`` keeps the predictor's setting."""
    net: DiffusionLightningModule = predictor.prediction_net
    model_kwargs = copy.deepcopy(dict(net.hparams["model_kwargs"]))
    components = model_kwargs["components"]
    if sampler is not None or sampler_kwargs is not None:
        name = sampler or components["sampler"]["name"]
        params = sampler_kwargs if sampler_kwargs is not None else ({} if sampler else components["sampler"]["params"])
        names = {kind: entry["name"] for kind, entry in components.items()}
        kwargs = {kind: entry["params"] for kind, entry in components.items()}
        names["sampler"], kwargs["sampler"] = name, params  # checked against the model's own components
        model_kwargs["components"] = component_spec(names, kwargs)
    if num_parallel_samples is not None:
        model_kwargs["num_parallel_samples"] = int(num_parallel_samples)
    if guidance_scale is not None:
        model_kwargs["guidance_scale"] = float(guidance_scale)
    if clip_x0 is not None:
        model_kwargs["clip_x0"] = None if clip_x0 is False else float(clip_x0)
    hparams = dict(net.hparams)
    hparams["model_kwargs"] = model_kwargs
    new_net = DiffusionLightningModule(**hparams)
    new_net.load_state_dict(net.state_dict())
    same_law = model_kwargs["components"] == components and all(
        model_kwargs.get(key) == net.hparams["model_kwargs"].get(key) for key in ("guidance_scale", "clip_x0")
    )
    if same_law:  # only the paths per call changed: the forecasts' law, and the calibration fitted to it, stand
        return DiffusionPredictor.from_predictor(predictor, prediction_net=new_net)
    if getattr(predictor, "calibration", None):
        warnings.warn(
            "with_sampler: the calibration was fitted to the old sampler's forecasts and is dropped; "
            "calibrate(...) the new predictor on the validation windows again",
            stacklevel=2,
        )
    return DiffusionPredictor.from_predictor(predictor, prediction_net=new_net, output_transform=None)
