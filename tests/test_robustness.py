"""Robustness of the model to its inputs: missing future values and bounds on the predicted clean window."""

import pytest
import torch
from test_model_features import CTX, PRED, TINY, batch_inputs, randomize_zero_params

from gluonts_diffusion.model.module import DiffusionModel
from gluonts_diffusion.model.specs import component_spec


# --------------------------------------------------------------------------- missing future values
def model_with(preprocessing="raw", seed=1, **kwargs):
    """The tiny transformer model of :mod:`test_model_features` with another preprocessing (and model options)."""
    spec = component_spec(
        {"preprocessing": preprocessing},
        {"architecture": TINY["transformer"], "sampler": {"num_steps": 3}},
    )
    torch.manual_seed(seed)
    return DiffusionModel(PRED, CTX, spec, lags_seq=[1, 2], num_time_features=1, num_parallel_samples=3, **kwargs)


@pytest.mark.parametrize("preprocessing", ["raw", "fourier"])
def test_missing_future_values_do_not_reach_the_network(monkeypatch, preprocessing):
    model = model_with(preprocessing)
    randomize_zero_params(model)
    model.eval()
    seen = []
    denoise = model.denoise
    monkeypatch.setattr(model, "denoise", lambda x, t, cond: seen.append(x.clone()) or denoise(x, t, cond))
    inputs = batch_inputs(model, batch=3)
    observed = torch.ones_like(inputs["future_target"])
    observed[0, 1] = observed[2, 3] = 0.0
    losses = []
    for dummy in (0.0, 123.0, float("nan")):  # GluonTS writes 0 (or another dummy) where a value is missing
        target = inputs["future_target"].clone()
        target[observed == 0] = dummy
        with torch.no_grad():
            losses.append(
                model.loss(
                    **{**inputs, "future_target": target, "future_observed_values": observed},
                    generator=torch.Generator().manual_seed(0),
                )
            )
    for x, loss in zip(seen[1:], losses[1:]):
        torch.testing.assert_close(x, seen[0], rtol=0, atol=0)
        torch.testing.assert_close(loss, losses[0], rtol=0, atol=0)
    assert torch.isfinite(losses[0]).all()
