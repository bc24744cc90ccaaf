"""Every registered architecture: shapes, finiteness, null condition, gradients; ensemble weights."""

import pytest
import torch

from gluonts_diffusion.components.architectures._layers import NullCondition, SinusoidalTimeEmbedding
from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.registry import Registry

ARCHITECTURES = Registry.list("architecture")

# tiny settings for the known architectures (only parameters a class accepts are passed)
TINY = {
    "cnn": {"residual_channels": 8, "num_layers": 2, "dilation_cycle": 2, "hidden_size": 8},
    "rnn": {"hidden_size": 8, "num_layers": 1},
    "hybrid": {"d_model": 8, "num_heads": 2, "num_conv_layers": 1, "num_attention_layers": 1},
    "transformer": {"model_dim": 8, "num_heads": 2, "num_layers": 1, "dropout": 0.0},
    "csdi": {"model_dim": 8, "num_heads": 2, "num_layers": 1, "dropout": 0.0, "patch_size": 2},
}
ENSEMBLE_MEMBERS = ["cnn", "rnn"]


def tiny_params(name):
    accepted = Registry.parameters("architecture", name)
    if name == "ensemble":
        return {"models": ENSEMBLE_MEMBERS, "model_params": {m: tiny_params(m) for m in ENSEMBLE_MEMBERS}}
    return {k: v for k, v in TINY.get(name, {}).items() if k in accepted}


# (length, channels, context_length, context_dim, future_dim, prediction_length)
SHAPES = {
    "univariate": (6, 1, 10, 3, 2, 6),
    "multivariate": (6, 3, 10, 5, 2, 6),
    "length_differs": (8, 3, 12, 4, 3, 5),
}


def build(name, shape, **extra):
    torch.manual_seed(0)
    params = {**tiny_params(name), **extra}
    return Registry.get("architecture", name, **params).build(ArchitectureShapes(*shape)).eval()


def inputs(shape, batch=4, seed=0):
    length, channels, context_length, context_dim, future_dim, prediction_length = shape
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, context_length, context_dim, generator=g),
        torch.randn(batch, prediction_length, future_dim, generator=g),
        torch.randn(batch, length, channels, generator=g),
        torch.rand(batch, generator=g),
    )


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_hyper_parameters_at_construction_layers_at_build(name):
    arch = Registry.get("architecture", name, **tiny_params(name))
    assert not list(arch.parameters()), "layers are created by build(shapes), not by the constructor"
    with pytest.raises(RuntimeError, match="not built"):
        _ = arch.shapes
    shapes = ArchitectureShapes(*SHAPES["multivariate"])
    assert arch.build(shapes) is arch and arch.shapes == shapes and list(arch.parameters())
    with pytest.raises(RuntimeError, match="already built"):
        arch.build(shapes)
    # the same seed gives the same layers: initialisation happens in build, in one order
    torch.manual_seed(0)
    twin = Registry.get("architecture", name, **tiny_params(name)).build(shapes)
    torch.manual_seed(0)
    again = Registry.get("architecture", name, **tiny_params(name)).build(shapes)
    for (key, a), (_, b) in zip(twin.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=key)


def test_rnn_loads_weights_saved_before_the_history_encoder_was_shared():
    arch = build("rnn", SHAPES["univariate"])
    old = {
        k.replace("history.proj.", "history_proj.").replace("history.rnn.", "history_rnn."): v
        for k, v in arch.state_dict().items()
    }
    assert "history_proj.weight" in old
    fresh = Registry.get("architecture", "rnn", **tiny_params("rnn")).build(ArchitectureShapes(*SHAPES["univariate"]))
    fresh.load_state_dict(old)
    for key, value in arch.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value, rtol=0, atol=0)


def test_time_embedding():
    emb = SinusoidalTimeEmbedding(7)
    out = emb(torch.rand(5))
    assert out.shape == (5, 7) and torch.isfinite(out).all()
    assert not torch.allclose(emb(torch.zeros(1)), emb(torch.ones(1)))
    null = NullCondition(3)
    cond = torch.randn(4, 2, 3)
    dropped = null(cond, torch.tensor([True, False, True, False]))
    torch.testing.assert_close(dropped[1], cond[1])
    torch.testing.assert_close(dropped[0], null.null.expand(2, 3))


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_shapes_null_condition_and_gradients(name, shape_name):
    shape = SHAPES[shape_name]
    arch = build(name, shape)
    context, future, x_t, t = inputs(shape)
    batch, length, channels = x_t.shape

    out = arch(x_t, t, arch.encode(context, future))
    assert out.shape == (batch, length, channels)
    assert torch.isfinite(out).all()

    # every row dropped: the output no longer depends on the history or the future features
    drop = torch.ones(batch, dtype=torch.bool)
    context2, future2, _, _ = inputs(shape, seed=1)
    a = arch(x_t, t, arch.encode(context, future, drop=drop))
    b = arch(x_t, t, arch.encode(context2, future2, drop=drop))
    torch.testing.assert_close(a, b)
    # no row dropped is the same as drop=None
    none = torch.zeros(batch, dtype=torch.bool)
    c = arch(x_t, t, arch.encode(context, future, drop=none))
    torch.testing.assert_close(c, out)

    # backward: gradients reach every parameter (half the rows dropped, so the null condition is used)
    arch.train()
    half = torch.arange(batch) % 2 == 0
    target = torch.randn_like(x_t)  # (output layers may start at zero: a non-zero target still gives gradients)
    loss = (arch(x_t, t, arch.encode(context, future, drop=half)) - target).pow(2).mean()
    loss.backward()
    missing = [n for n, p in arch.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing}"
    assert all(torch.isfinite(p.grad).all() for p in arch.parameters() if p.grad is not None)
    assert sum(float(p.grad.abs().sum()) for p in arch.parameters() if p.grad is not None) > 0


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_repeat_condition(name):
    shape = SHAPES["length_differs"]
    arch = build(name, shape)
    context, future, x_t, t = inputs(shape, batch=2)
    cond = arch.encode(context, future)
    repeated = arch.repeat_condition(cond, 3)
    x_rep, t_rep = x_t.repeat_interleave(3, 0), t.repeat_interleave(3, 0)
    out = arch(x_rep, t_rep, repeated)
    assert out.shape == x_rep.shape
    torch.testing.assert_close(out, arch(x_t, t, cond).repeat_interleave(3, 0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in ARCHITECTURES if n != "ensemble"])
def test_future_features_condition_the_output(name):
    shape = SHAPES["length_differs"]
    arch = build(name, shape)
    for p in arch.parameters():  # avoid zero-initialised output layers hiding the dependence
        if p.ndim >= 1 and bool((p == 0).all()):
            torch.nn.init.normal_(p, std=0.1)
    context, future, x_t, t = inputs(shape)
    a = arch(x_t, t, arch.encode(context, future))
    b = arch(x_t, t, arch.encode(context, future + 1.0))
    c = arch(x_t, t, arch.encode(context + 1.0, future))
    assert not torch.allclose(a, b) and not torch.allclose(a, c)


# --------------------------------------------------------------------------- ensemble
def test_ensemble_weights():
    shape = SHAPES["multivariate"]
    arch = build("ensemble", shape)
    torch.testing.assert_close(arch.weights, torch.full((2,), 0.5))
    # a weighted mean's learned weights are trained by the loss (a parameter), not set by the callback
    assert arch.member_losses is None and arch.training_callbacks() == []
    assert "weight_logits" in dict(arch.named_parameters()) and "fixed_weights" not in arch.state_dict()
    mixture = build("ensemble", shape, aggregation="mixture")
    assert [type(c).__name__ for c in mixture.training_callbacks()] == ["EnsembleWeightLearning"]
    w = arch.set_weights_from_losses([0.2, 1.0])
    assert abs(float(w.sum()) - 1) < 1e-6 and w[0] > w[1] and arch.member_losses == [0.2, 1.0]
    w = arch.set_weights_from_losses([3.0, 1.0], method="inverse")
    torch.testing.assert_close(w, torch.tensor([0.25, 0.75]))
    arch = build("ensemble", shape, weights=[1.0, 3.0])
    torch.testing.assert_close(arch.weights, torch.tensor([0.25, 0.75]))
    assert arch.training_callbacks() == [], "given weights are not learned"
    assert "fixed_weights" in arch.state_dict() and "weight_logits" not in arch.state_dict()

    # the weighted mean is the weighted sum of the members' outputs
    context, future, x_t, t = inputs(shape)
    cond = arch.encode(context, future)
    expected = sum(w * m(x_t, t, c) for w, m, c in zip(arch.weights, arch.members, cond["members"]))
    torch.testing.assert_close(arch(x_t, t, cond), expected)


def test_ensemble_loads_state_dicts_with_the_old_weights_buffer():
    shape = SHAPES["univariate"]
    for extra in ({}, {"aggregation": "mixture"}):
        saved = build("ensemble", shape, **extra).state_dict()
        saved.pop("weight_logits", None), saved.pop("fixed_weights", None)
        saved["weights"] = torch.tensor([0.25, 0.75])  # as saved before the weights were trainable
        arch = build("ensemble", shape, **extra)
        arch.load_state_dict(saved)
        torch.testing.assert_close(arch.weights.detach(), torch.tensor([0.25, 0.75]))


def test_ensemble_mixture_assigns_members_by_weight():
    shape = SHAPES["length_differs"]
    arch = build("ensemble", shape, aggregation="mixture", weights=[0.25, 0.75])
    context, future, x_t, t = inputs(shape, batch=2)
    cond = arch.repeat_condition(arch.encode(context, future), 8)
    assign = cond["assign"]
    assert assign.tolist() == [0, 0, 1, 1, 1, 1, 1, 1] * 2  # stratified per series
    x_rep, t_rep = x_t.repeat_interleave(8, 0), t.repeat_interleave(8, 0)
    out = arch(x_rep, t_rep, cond)
    for k, (member, c) in enumerate(zip(arch.members, cond["members"])):
        rows = assign == k
        torch.testing.assert_close(out[rows], member(x_rep, t_rep, c)[rows], rtol=1e-5, atol=1e-6)
    # without repeat_condition rows are assigned by a low-discrepancy sequence
    many = arch.encode(*inputs(shape, batch=400)[:2])["assign"]
    assert abs(float((many == 1).float().mean()) - 0.75) < 0.02


@pytest.mark.parametrize(
    "params, word",
    [
        ({"models": []}, "models"),
        ({"models": ["nope"]}, "models"),
        ({"aggregation": "median"}, "aggregation"),
        ({"weights": [1.0]}, "weights"),
        ({"weights": [-1.0, 2.0]}, "weights"),
        ({"model_params": {"hybrid": {}}}, "model_params"),
    ],
)
def test_ensemble_bad_parameters(params, word):
    with pytest.raises(ValueError, match=word):
        build("ensemble", SHAPES["univariate"], **params)


@pytest.mark.parametrize(
    "name, params, word",
    [
        ("cnn", {"kernel_size": 2}, "kernel_size"),
        ("cnn", {"num_layers": 0}, "num_layers"),
        ("rnn", {"cell": "tcn"}, "cell"),
        ("hybrid", {"d_model": 10, "num_heads": 4}, "d_model"),
    ],
)
def test_bad_parameters(name, params, word):
    with pytest.raises(ValueError, match=word):
        build(name, SHAPES["univariate"], **params)


def test_ensemble_accepts_every_registered_architecture():
    members = [n for n in ARCHITECTURES if n != "ensemble"]
    arch = build(
        "ensemble", SHAPES["length_differs"], models=members, model_params={m: tiny_params(m) for m in members}
    )
    context, future, x_t, t = inputs(SHAPES["length_differs"])
    assert arch(x_t, t, arch.encode(context, future)).shape == x_t.shape
    assert len(arch.members) == len(members)
