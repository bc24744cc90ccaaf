"""ONNX export of a trained predictor's denoiser, for serving with ONNX Runtime.

The exported graph is one network evaluation: ``(x_t, t, context, future_features) -> output`` (the
history encoding included), in the parameterization the objective trained (``eps``, ``x0``, ``score``
or ``velocity``); a sampler loops around it. Shapes: ``x_t`` (batch, length, channels), ``t`` (batch,),
``context`` (batch, context_length, context_dim), ``future_features`` (batch, prediction_length, future_dim);
the batch axis is dynamic. Needs the ``onnx`` extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Union

import torch
from torch import nn


class DenoiserStep(nn.Module):
    """One denoiser evaluation of a :class:`DiffusionModel`, with the conditioning encoded inside."""

    def __init__(self, model) -> None:
        super().__init__()
        self.architecture = model.architecture

    def forward(self, x_t, t, context, future_features):
        return self.architecture(x_t, t, self.architecture.encode(context, future_features))


def example_inputs(model, batch: int = 2) -> Dict[str, torch.Tensor]:
    """Inputs of the shapes the denoiser of ``model`` takes (``model.describe_inputs(stage="denoiser")``):
    zeros, and ``t = 0.5``."""
    inputs = model.describe_inputs(batch, stage="denoiser").zeros()
    inputs["t"].fill_(0.5)
    return inputs


def export_model(predictor, path: Union[str, Path]) -> Path:
    """Write ``denoiser.onnx`` and ``denoiser.json`` (shapes, parameterization, components) to folder ``path``.

    Uses the weights the predictor samples with (the EMA copy when there is one).
    """
    net = predictor.prediction_net
    model = net.sampling_model if hasattr(net, "sampling_model") else net.model
    step = DenoiserStep(model).eval()
    inputs = example_inputs(model)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1)
    with torch.no_grad():
        program = torch.onnx.export(
            step,
            tuple(inputs.values()),
            input_names=list(inputs),
            output_names=["output"],
            dynamic_shapes={name: {0: batch} for name in inputs},
            dynamo=True,
        )
    program.save(str(folder / "denoiser.onnx"))
    meta = {
        "inputs": {name: list(tensor.shape[1:]) for name, tensor in inputs.items()},
        "parameterization": model.objective.parameterization,
        "components": net.hparams["model_kwargs"]["components"],
    }
    (folder / "denoiser.json").write_text(json.dumps(meta, indent=1))
    return folder / "denoiser.onnx"
