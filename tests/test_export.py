"""ONNX export of the denoiser: ONNX Runtime gives the network's own output."""

import numpy as np
import pytest
import torch
from tiny import synthetic, tiny_estimator

from gluonts_diffusion.model.export import DenoiserStep, example_inputs, export_model

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.mark.parametrize("architecture", ["transformer", "cnn"])
def test_exported_denoiser_matches_torch(architecture, trainer_kwargs, tmp_path):
    import onnxruntime

    arch_kwargs = {
        "transformer": {"model_dim": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0},
        "cnn": {"residual_channels": 8, "num_layers": 2},
    }[architecture]
    predictor = tiny_estimator(
        trainer_kwargs,
        freq="D",
        prediction_length=7,
        context_length=14,
        architecture=architecture,
        architecture_kwargs=arch_kwargs,
    ).train(synthetic(4, 40))
    path = export_model(predictor, tmp_path / "onnx")
    model = predictor.prediction_net.sampling_model
    inputs = {k: torch.randn_like(v) for k, v in example_inputs(model, batch=5).items()}
    inputs["t"] = torch.rand(5)
    with torch.no_grad():
        expected = DenoiserStep(model).eval()(**inputs).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert (tmp_path / "onnx" / "denoiser.json").exists()
