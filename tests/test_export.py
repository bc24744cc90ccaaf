"""ONNX export of the whole sampling computation: the graph gives the torch model's samples for the same noise,
the noise replay gives the generator's forecasts, and models that cannot be traced are refused in one line."""

import json

import numpy as np
import pytest
import torch
from tiny import synthetic, tiny_estimator

from gluonts_diffusion.model.export import ExportError, SamplingGraph, export_model, sampling_model

pytest.importorskip("onnxruntime")


def train(trainer_kwargs, **kwargs):
    return tiny_estimator(trainer_kwargs, freq="D", prediction_length=7, context_length=14, **kwargs).train(
        synthetic(4, 40)
    )


def random_inputs(model, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = {k: torch.randn(v.shape, generator=g) for k, v in model.describe_inputs(batch).zeros().items()}
    inputs["past_observed_values"] = (torch.rand(inputs["past_target"].shape, generator=g) > 0.1).float()
    return inputs


def test_replayed_noise_gives_the_generators_forecast(trainer_kwargs):
    """Draws taken from a seeded generator in the sampler's order reproduce ``forward(generator=...)``."""
    model = sampling_model(train(trainer_kwargs, sampler="ddim", sampler_kwargs={"num_steps": 3, "eta": 1.0})).eval()
    graph = SamplingGraph(model)
    inputs = random_inputs(model, 3)
    n = graph.num_draws()
    assert n == 4  # the prior and one draw per stochastic step
    g = torch.Generator().manual_seed(7)
    draws = torch.stack([torch.randn(3 * graph.num_samples, *model.diffused_shape, generator=g) for _ in range(n)])
    with torch.no_grad():
        expected = model(**inputs, generator=torch.Generator().manual_seed(7))
        got = graph(**inputs, noise=draws.reshape(n, 3, graph.num_samples, *model.diffused_shape))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_onnx_graph_matches_torch_with_coloured_noise(trainer_kwargs, tmp_path):
    import onnxruntime

    predictor = train(trainer_kwargs, noise="correlated", sampler="ddim", sampler_kwargs={"num_steps": 3, "eta": 0.5})
    path = export_model(predictor, tmp_path / "onnx", freq="D")
    graph = SamplingGraph(sampling_model(predictor)).eval()
    meta = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert meta["noise"] == {"num_draws": 4, "shape": [8, 7, 1], "coloured": True}
    assert meta["freq"] == "D" and meta["context_length"] == 14 and len(meta["sampler"]["time_grid"]) == 4
    assert list(meta["inputs"]) == ["past_target", "past_observed_values", "past_time_feat", "future_time_feat"]
    inputs = random_inputs(graph.model, 5)  # another batch size than the export's
    inputs["noise"] = torch.randn(4, 5, 8, 7, 1)
    with torch.no_grad():
        expected = graph(**inputs).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    assert got.shape == (5, 8, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize(
    "kwargs, line",
    [
        (
            {"preprocessing": "wavelet"},
            "export_model: preprocessing 'wavelet' cannot be exported to ONNX: "
            "its transform runs in PyWavelets (numpy), outside the torch graph",
        ),
        (
            {"preprocessing": "fourier"},
            "export_model: preprocessing 'fourier' cannot be exported to ONNX: its FFT uses complex tensors, which ONNX lacks",
        ),
        (
            {"sampler": "pc", "noise": "correlated"},  # the corrector whitens with a triangular solve
            "export_model: the model uses the torch operator 'aten::linalg_solve_triangular', which has no ONNX form",
        ),
        (
            {"noise": "adaptive"},
            "export_model: noise 'adaptive' depends on the history and cannot be exported to ONNX",
        ),
    ],
)
def test_untraceable_models_are_refused_in_one_line(kwargs, line, trainer_kwargs, tmp_path):
    predictor = train(trainer_kwargs, **kwargs)
    with pytest.raises(ExportError) as err:
        export_model(predictor, tmp_path / "onnx")
    assert str(err.value) == line
    assert not (tmp_path / "onnx" / "model.onnx").exists()
