"""The ``csdi`` architecture: shapes for one and several dimensions, attention (not a flattened MLP) over the
dimension axis, dependence across dimensions only through that attention, and training + forecasting a
3-dimensional slice of exchange_rate_nips through DiffusionEstimator."""

import numpy as np
import pytest
import torch
from tiny import quiet_trainer

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.registry import Registry

TINY = {"model_dim": 16, "num_heads": 2, "num_layers": 2, "dropout": 0.0, "patch_size": 3}
LENGTH, CONTEXT, FUTURE_DIM = 7, 12, 2


def build(dims, **extra):
    torch.manual_seed(0)
    shapes = ArchitectureShapes(LENGTH, dims, CONTEXT, 3 * dims + 2, FUTURE_DIM, LENGTH)
    return Registry.get("architecture", "csdi", **{**TINY, **extra}).build(shapes).eval()


def inputs(dims, batch=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, CONTEXT, 3 * dims + 2, generator=g),
        torch.randn(batch, LENGTH, FUTURE_DIM, generator=g),
        torch.randn(batch, LENGTH, dims, generator=g),
        torch.rand(batch, generator=g),
    )


def randomize_output(arch):
    """The output layer starts at zero (the network predicts 0): give it weights so outputs differ."""
    torch.manual_seed(1)
    torch.nn.init.normal_(arch.out.weight, std=0.5)


@pytest.mark.parametrize("dims", [1, 5])
def test_output_shape(dims):
    arch = build(dims)
    randomize_output(arch)
    context, future, x_t, t = inputs(dims)
    with torch.no_grad():
        out = arch(x_t, t, arch.encode(context, future))
    assert out.shape == (3, LENGTH, dims)
    assert torch.isfinite(out).all() and out.abs().sum() > 0
    assert all(layer.feature is None for layer in arch.layers) == (dims == 1)


def test_permuting_the_dimensions_permutes_the_output():
    arch = build(5)
    randomize_output(arch)
    context, future, x_t, t = inputs(5)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        cond = arch.encode(context, future)
        out = arch(x_t, t, cond)
        arch.dim_embedding.copy_(arch.dim_embedding[perm])
        permuted = arch(x_t[..., perm], t, cond)
    torch.testing.assert_close(permuted, out[..., perm], atol=1e-5, rtol=1e-4)
    # and the embedding matters: without permuting it, the output is not the permuted output
    with torch.no_grad():
        arch.dim_embedding.copy_(torch.randn(5, TINY["model_dim"]))
        assert not torch.allclose(arch(x_t[..., perm], t, cond), out[..., perm], atol=1e-3)


@pytest.mark.parametrize("axes", ["time_feature", "time"])
def test_dimension_zero_reaches_dimension_one_only_through_feature_attention(axes):
    arch = build(3, axes=axes)
    randomize_output(arch)
    context, future, x_t, t = inputs(3)
    changed = x_t.clone()
    changed[..., 0] += 3.0
    with torch.no_grad():
        cond = arch.encode(context, future)
        out, out_changed = arch(x_t, t, cond), arch(changed, t, cond)
    assert not torch.allclose(out[..., 0], out_changed[..., 0])
    moved = (out[..., 1:] - out_changed[..., 1:]).abs().max().item()
    if axes == "time_feature":
        assert moved > 1e-3
    else:
        assert moved == 0.0


def test_trains_and_forecasts_three_exchange_rates(tmp_path, data_dir):
    from gluonts_diffusion.data.datasets import load_dataset

    data = load_dataset("exchange_rate_nips", data_dir, multivariate=True)
    entry = data.train[0]
    train = [
        {**entry, "target": entry["target"][:3, -120:], "start": entry["start"] + (entry["target"].shape[1] - 120)}
    ]
    torch.manual_seed(0)
    estimator = DiffusionEstimator(
        freq=data.freq,
        prediction_length=6,
        context_length=12,
        architecture="csdi",
        architecture_kwargs=TINY,
        sampler_kwargs={"num_steps": 2},
        target_dim=3,
        batch_size=8,
        num_batches_per_epoch=2,
        trainer_kwargs=quiet_trainer(tmp_path),
    )
    predictor = estimator.train(train)
    (forecast,) = predictor.predict(train, num_samples=5)
    assert forecast.samples.shape == (5, 6, 3)
    assert np.isfinite(forecast.samples).all()
    assert forecast.start_date == train[0]["start"] + 120


def test_bad_axes():
    with pytest.raises(ValueError, match="^architecture 'csdi': axes must be 'time_feature' or 'time', got 'feature'$"):
        Registry.get("architecture", "csdi", axes="feature")
