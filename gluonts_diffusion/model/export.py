"""ONNX export of a trained predictor's whole sampling computation, for forecasting without torch.

``export_model(predictor, folder)`` writes

- ``model.onnx``: ``(past_target, past_observed_values, past_time_feat, future_time_feat, noise) -> samples``,
  :meth:`DiffusionModel.forward` with its noise given: conditioning, scaling, the sampler loop unrolled over
  its fixed time grid, classifier-free guidance (both branches) and the inverse transform. ``noise`` is
  ``(num_draws, batch, num_samples, length, channels)`` standard normal: draw 0 is the prior's, the others the
  sampler's per-step draws in the order it takes them (coloured inside the graph for correlated noise).
  Output ``(batch, num_samples, prediction_length[, target_dim])`` in the data's scale; batch is dynamic.
- ``input_transform.json``: GluonTS's (torch-free) transformation chain building those inputs, in GluonTS's
  serde format.
- ``model.json``: freq, lengths, lags, input names and shapes, scaling, samples per call, guidance, the
  component spec, the time grid with ``alpha``/``sigma`` on it, the package version.

:class:`gluonts_diffusion.onnx.OnnxPredictor` loads the folder. Needs the ``onnx`` extra.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Union

import numpy as np
import torch
from gluonts.core import serde
from torch import nn

from gluonts_diffusion.core.base import BaseNoise
from gluonts_diffusion.version import __version__

from .module import DiffusionModel

#: components that cannot be traced into ONNX, and why
UNTRACEABLE = {
    "wavelet": "its transform runs in PyWavelets (numpy), outside the torch graph",
    "fourier": "its FFT uses complex tensors, which ONNX lacks",
    "technical": "its running extrema (cummax) have no ONNX operator",
}


#: ONNX opset of the exported graph
OPSET = 17


class ExportError(ValueError):
    """A model that cannot be exported to ONNX (the message names the component)."""


class ReplayNoise(BaseNoise):
    """A noise whose draws are given: the i-th ``sample`` returns ``colour @ draws[i]`` ``(batch, length, channels)``.

    ``draws`` is ``(num_draws, batch, length, channels)`` standard normal, or None to draw (and count) fresh ones;
    ``colour`` the ``(length, length)`` Cholesky factor of the noise covariance (None: identity).
    """

    def __init__(self, inner: BaseNoise, draws: Optional[torch.Tensor], colour: Optional[torch.Tensor]) -> None:
        self.inner, self.draws, self.colour = inner, draws, colour
        self.count = 0

    def sample(self, shape: Sequence[int], generator=None, device=None, dtype=None) -> torch.Tensor:
        if self.draws is None:
            z = torch.randn(*shape, generator=generator, device=device, dtype=dtype)
        else:
            if self.count >= self.draws.shape[0]:
                raise ExportError(f"the sampler drew more than the {self.draws.shape[0]} noise draws given")
            z = self.draws[self.count]
        self.count += 1
        return z if self.colour is None else self.colour.to(z) @ z

    def covariance(self, length: int) -> torch.Tensor:
        return self.inner.covariance(length)

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        return self.inner.whiten(z)

    def log_prob(self, z: torch.Tensor, scale=1.0) -> torch.Tensor:
        return self.inner.log_prob(z, scale)


def noise_colour(noise: BaseNoise, length: int) -> Optional[torch.Tensor]:
    """The Cholesky factor ``(length, length)`` that colours standard normal draws into ``noise`` (None for
    iid noise); refuses noise that depends on the data (it cannot be replayed from standard normal draws)."""
    probe = torch.zeros(1, length, 1)
    try:
        fixed = noise.conditioned_on(probe, torch.ones_like(probe)) is noise
    except Exception:  # noqa: BLE001 - a noise that cannot even be probed is not a fixed one
        fixed = False
    if not fixed:
        name = getattr(noise, "registry_name", type(noise).__name__)
        raise ExportError(f"export_model: noise {name!r} depends on the history and cannot be exported to ONNX")
    cov = noise.covariance(length)
    if torch.equal(cov, torch.eye(length, dtype=cov.dtype)):
        return None
    return torch.linalg.cholesky(cov).to(torch.float32)


class SamplingGraph(nn.Module):
    """:meth:`DiffusionModel.forward` with explicit noise ``(num_draws, batch, num_samples, length, channels)``.

    Every noise draw the model's sampler takes (the prior's first) is replayed from ``noise``; with the draws a
    ``torch.Generator`` would give, the output equals ``model(..., generator=...)``.
    """

    def __init__(self, model: DiffusionModel, num_samples: Optional[int] = None) -> None:
        super().__init__()
        self.model = model
        self.num_samples = int(num_samples or model.num_parallel_samples)
        self.colour = noise_colour(model.noise, model.diffused_shape[0])

    def run(self, inputs: Dict[str, torch.Tensor], draws: Optional[torch.Tensor], generator=None):
        """The model's samples with ``draws`` ``(num_draws, batch * num_samples, length, channels)`` replayed
        (or fresh ones from ``generator``); returns the samples and the number of draws taken."""
        original = self.model.noise
        replay = ReplayNoise(original, draws, self.colour)
        self.model.noise = replay
        try:
            out = self.model(**inputs, num_parallel_samples=self.num_samples, generator=generator)
        finally:
            self.model.noise = original
        return out, replay.count

    def forward(self, past_target, past_observed_values, past_time_feat, future_time_feat, noise):
        inputs = dict(
            past_target=past_target,
            past_observed_values=past_observed_values,
            past_time_feat=past_time_feat,
            future_time_feat=future_time_feat,
        )
        draws = noise.reshape(noise.shape[0], -1, *noise.shape[3:])
        return self.run(inputs, draws)[0]

    def num_draws(self) -> int:
        """Noise draws one forecast takes (counted on a dry run)."""
        with torch.no_grad():
            return self.run(self.model.describe_inputs(1).zeros(), None)[1]


def sampling_model(predictor) -> DiffusionModel:
    """The model a predictor samples with (the EMA copy when there is one)."""
    net = predictor.prediction_net
    return net.sampling_model if hasattr(net, "sampling_model") else net.model


def check_exportable(model: DiffusionModel) -> None:
    """Refuse, with one line naming it, a component (or the imputation option) that cannot be traced."""
    for kind in ("preprocessing", "architecture", "noise", "sde", "objective", "sampler"):
        name = getattr(getattr(model, kind), "registry_name", None)
        if name in UNTRACEABLE:
            raise ExportError(f"export_model: {kind} {name!r} cannot be exported to ONNX: {UNTRACEABLE[name]}")
    if getattr(model, "imputation", False):
        raise ExportError(
            "export_model: an imputation model interpolates its known values with torch.cummax, which has no ONNX "
            "form; serve it with predictor.serialize"
        )


def graph_inputs(graph: SamplingGraph, batch: int = 2) -> Dict[str, torch.Tensor]:
    """Example inputs of :class:`SamplingGraph`: the model's prediction inputs (ones) and standard normal noise."""
    inputs = graph.model.describe_inputs(batch).zeros()
    inputs = {name: torch.ones_like(value) if "observed" in name else value for name, value in inputs.items()}
    shape = (graph.num_draws(), batch, graph.num_samples, *graph.model.diffused_shape)
    inputs["noise"] = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    return inputs


def _save_onnx(graph: SamplingGraph, inputs: Dict[str, torch.Tensor], path: Path) -> None:
    axes = {name: {0: "batch"} for name in inputs}
    axes["noise"] = {1: "batch"}
    axes["samples"] = {0: "batch"}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused transformer kernels have no ONNX form
    try:
        _trace(graph, inputs, path, axes)
    except torch.onnx.errors.UnsupportedOperatorError as err:
        op = str(err).split("operator ", 1)[-1].split(" ", 1)[0]
        raise ExportError(f"export_model: the model uses the torch operator {op}, which has no ONNX form") from None
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _expm1(g, x):
    """ONNX form of ``expm1`` (none exists), accurate near 0 by Kahan's trick: ``(u - 1) x / log u``, ``u = e^x``."""
    u = g.op("Exp", x)
    one = g.op("Constant", value_t=torch.tensor(1.0))
    one = g.op("CastLike", one, x)
    um1 = g.op("Sub", u, one)
    kahan = g.op("Div", g.op("Mul", um1, x), g.op("Log", u))
    return g.op("Where", g.op("Equal", u, one), x, g.op("Where", g.op("IsInf", u), um1, kahan))


def _floor_divide(g, a, b):
    """ONNX form of Python's ``//`` (the TorchScript exporter truncates towards 0, so ``-(-7 // 4)`` would be 1)."""
    double = 11  # ONNX TensorProto.DOUBLE: exact for the shape arithmetic this meets
    quotient = g.op("Div", g.op("Cast", a, to_i=double), g.op("Cast", b, to_i=double))
    return g.op("CastLike", g.op("Floor", quotient), a)


#: ONNX forms of the aten operators the TorchScript exporter lacks or gets wrong
SYMBOLICS = {"aten::expm1": _expm1, "aten::floor_divide": _floor_divide, "aten::floordiv": _floor_divide}


def _trace(graph: SamplingGraph, inputs: Dict[str, torch.Tensor], path: Path, axes) -> None:
    """Trace ``graph`` (TorchScript tracing: the time grid, coefficients and loop become constants)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings: Python numbers baked in are the grid's constants
        for name, symbolic in SYMBOLICS.items():
            torch.onnx.register_custom_op_symbolic(name, symbolic, OPSET)
        torch.onnx.export(
            graph.eval(),
            tuple(inputs.values()),
            str(path),
            input_names=list(inputs),
            output_names=["samples"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def model_metadata(predictor, graph: SamplingGraph, inputs: Dict[str, torch.Tensor], freq: Optional[str]):
    """The JSON description of an exported model (see the module docstring)."""
    model = graph.model
    sampler = model.sampler
    grid = sampler.timesteps(model.sde, dtype=torch.float64)
    hparams = predictor.prediction_net.hparams["model_kwargs"]
    return {
        "format": "gluonts-diffusion-onnx/1",
        "version": __version__,
        "freq": freq,
        "prediction_length": model.prediction_length,
        "context_length": model.context_length,
        "past_length": model.past_length,
        "lags_seq": model.lags_seq,
        "target_dim": model.target_dim,
        "num_time_features": model.num_time_features,
        "num_samples": graph.num_samples,
        "batch_size": predictor.batch_size,
        "guidance_scale": model.guidance_scale,
        "inputs": {name: list(value.shape[1:]) for name, value in inputs.items() if name != "noise"},
        "noise": {
            "num_draws": int(inputs["noise"].shape[0]),
            "shape": [graph.num_samples, *model.diffused_shape],
            "coloured": graph.colour is not None,
        },
        "scaling": {"scaling": model.preprocessing.scaling, "min_scale": model.preprocessing.min_scale},
        "components": hparams["components"],
        "sampler": {
            "nfe": sampler.nfe,
            "time_grid": grid.tolist(),
            "alpha": model.sde.alpha(grid).tolist(),
            "sigma": model.sde.sigma(grid).tolist(),
        },
    }


def export_model(predictor, path: Union[str, Path], freq: Optional[str] = None) -> Path:
    """Write ``model.onnx``, ``input_transform.json`` and ``model.json`` to folder ``path`` (created);
    returns the ONNX file's path. ``freq`` defaults to the predictor's ``freq`` attribute when it has one.

    Raises :class:`ExportError` (one line naming the component) for models that cannot be traced.
    """
    if getattr(predictor, "calibration", None):
        raise ExportError(
            "export_model: the predictor is calibrated (predictor.calibration) and the ONNX model cannot carry it; "
            "export DiffusionPredictor.from_predictor(predictor, output_transform=None) (uncalibrated), or serve the "
            "calibrated one with predictor.serialize"
        )
    model = sampling_model(predictor)
    check_exportable(model)
    graph = SamplingGraph(model).eval()
    inputs = graph_inputs(graph)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    _save_onnx(graph, inputs, folder / "model.onnx")
    (folder / "input_transform.json").write_text(serde.dump_json(predictor.input_transform))
    meta = model_metadata(predictor, graph, inputs, freq or getattr(predictor, "freq", None))
    (folder / "model.json").write_text(json.dumps(meta, indent=1))
    return folder / "model.onnx"


class ReplayNet(nn.Module):
    """A prediction net for GluonTS's ``PyTorchPredictor`` that samples with noise from ``draw(batch)`` (a numpy
    array ``(num_draws, batch, num_samples, length, channels)``), e.g. the noise an ONNX predictor draws."""

    def __init__(self, model: DiffusionModel, draw: Callable[[int], Any]) -> None:
        super().__init__()
        self.graph = SamplingGraph(model)
        self.draw = draw

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        noise = torch.as_tensor(np.asarray(self.draw(inputs["past_target"].shape[0])), dtype=torch.float32)
        return self.graph(**inputs, noise=noise)


def replayed_predictor(predictor, draw: Callable[[int], Any]):
    """A copy of the torch ``predictor`` whose noise comes from ``draw`` (see :class:`ReplayNet`)."""
    from gluonts.torch.model.predictor import PyTorchPredictor

    return PyTorchPredictor(
        input_names=predictor.input_names,
        prediction_net=ReplayNet(sampling_model(predictor), draw),
        batch_size=predictor.batch_size,
        prediction_length=predictor.prediction_length,
        input_transform=predictor.input_transform,
        device="cpu",
    )
