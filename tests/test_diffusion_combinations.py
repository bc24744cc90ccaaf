"""Every valid noise x SDE x objective x sampler combination trains one step and forecasts, at model level."""

import itertools

import pytest
import torch
from oracles import SDE_PARAMS

from gluonts_diffusion.core import Registry, RegistryError
from gluonts_diffusion.model.module import DiffusionModel
from gluonts_diffusion.model.specs import component_spec

PREDICTION_LENGTH, CONTEXT_LENGTH, BATCH, SAMPLES = 6, 12, 4, 3
COMBINATIONS = list(
    itertools.product(
        Registry.list("noise"), Registry.list("sde"), Registry.list("objective"), Registry.list("sampler")
    )
)


def inputs(model):
    torch.manual_seed(0)
    past = torch.randn(BATCH, model.past_length).cumsum(1) + 10
    return {
        "past_target": past,
        "past_observed_values": torch.ones_like(past),
        "past_time_feat": torch.randn(BATCH, model.past_length, 2),
        "future_time_feat": torch.randn(BATCH, PREDICTION_LENGTH, 2),
    }


@pytest.mark.parametrize("noise,sde,objective,sampler", COMBINATIONS)
def test_combination_trains_and_forecasts(noise, sde, objective, sampler):
    spec = component_spec(
        {"noise": noise, "sde": sde, "objective": objective, "sampler": sampler},
        {
            "architecture": {"model_dim": 8, "num_heads": 2, "num_layers": 1, "patch_size": 2},
            "sde": SDE_PARAMS.get(sde, {}),
            "sampler": {"num_steps": 2},
        },
    )
    try:
        model = DiffusionModel(PREDICTION_LENGTH, CONTEXT_LENGTH, spec, lags_seq=[1, 6], num_time_features=2)
    except RegistryError as err:  # an invalid combination says why, and is not a failure
        assert "incompatible components" in str(err)
        pytest.skip(str(err))
    batch = inputs(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss = model.loss(
        **batch,
        future_target=torch.randn(BATCH, PREDICTION_LENGTH) + 10,
        future_observed_values=torch.ones(BATCH, PREDICTION_LENGTH),
    ).mean()
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        samples = model(**batch, num_parallel_samples=SAMPLES)
    assert samples.shape == (BATCH, SAMPLES, PREDICTION_LENGTH)
    assert torch.isfinite(samples).all()
