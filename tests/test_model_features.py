"""Model-level features: classifier-free guidance, ensemble weights from the members' losses,
torch.compile, mixed precision, gradient checkpointing and padded (variable-length) histories."""

import copy
import os

import numpy as np
import pandas as pd
import pytest
import torch
from tiny import quiet_trainer

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.core import architecture as core_architecture
from gluonts_diffusion.core.denoiser import to_eps
from gluonts_diffusion.model.lightning_module import DiffusionLightningModule
from gluonts_diffusion.model.module import DiffusionModel
from gluonts_diffusion.model.specs import component_spec

# tiny settings of every architecture
TINY = {
    "transformer": {"model_dim": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0, "patch_size": 2},
    "cnn": {"residual_channels": 8, "num_layers": 2, "dilation_cycle": 2, "hidden_size": 8},
    "rnn": {"hidden_size": 8, "num_layers": 1},
    "hybrid": {"d_model": 8, "num_heads": 2, "num_conv_layers": 1, "num_attention_layers": 1},
}
TINY["csdi"] = dict(TINY["transformer"])
TINY["ensemble"] = {"models": ["cnn", "rnn"], "model_params": {"cnn": TINY["cnn"], "rnn": TINY["rnn"]}}
ARCHITECTURES = list(TINY)
MIXTURE = {**TINY["ensemble"], "aggregation": "mixture"}
PRED, CTX = 4, 8
SAMPLING_INPUTS = ("past_target", "past_observed_values", "past_time_feat", "future_time_feat")


def make_model(architecture="transformer", arch_params=None, target_dim=1, seed=0, **kwargs):
    torch.manual_seed(seed)
    spec = component_spec(
        {"architecture": architecture},
        {"architecture": arch_params if arch_params is not None else TINY[architecture], "sampler": {"num_steps": 3}},
    )
    kwargs.setdefault("num_parallel_samples", 3)
    return DiffusionModel(PRED, CTX, spec, lags_seq=[1, 2], num_time_features=1, target_dim=target_dim, **kwargs)


def batch_inputs(model, batch=2, seed=0, with_future=True):
    g = torch.Generator().manual_seed(seed)
    n, c = model.past_length, model.target_dim
    shape = (batch, n) if c == 1 else (batch, n, c)
    past = 5 + torch.randn(*shape, generator=g)
    out = dict(
        past_target=past,
        past_observed_values=torch.ones_like(past),
        past_time_feat=torch.randn(batch, n, 1, generator=g),
        future_time_feat=torch.randn(batch, PRED, 1, generator=g),
    )
    if with_future:
        fshape = (batch, PRED) if c == 1 else (batch, PRED, c)
        out["future_target"] = 5 + torch.randn(*fshape, generator=g)
        out["future_observed_values"] = torch.ones(*fshape)
    return out


def randomize_zero_params(module, std=0.3):
    """Zero-initialised output layers would make every output 0 and hide any conditioning."""
    with torch.no_grad():
        for p in module.parameters():
            if bool((p == 0).all()):
                p.normal_(std=std)


def synthetic(n=6, length=40, dim=1, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = np.arange(length + 3 * i)
        base = 10 + 3 * np.sin(2 * np.pi * t / 7)
        target = base + rng.normal(0, 0.5, len(t)) if dim == 1 else base + rng.normal(0, 0.5, (dim, len(t)))
        out.append({"start": pd.Period("2021-01-01", "D"), "target": target.astype(np.float32), "item_id": str(i)})
    return out


def tiny_estimator(tmp_path, architecture="transformer", **kwargs):
    defaults = dict(
        freq="D",
        prediction_length=PRED,
        context_length=CTX,
        architecture=architecture,
        architecture_kwargs=TINY[architecture],
        sampler_kwargs={"num_steps": 2},
        num_parallel_samples=4,
        batch_size=8,
        num_batches_per_epoch=2,
        trainer_kwargs=quiet_trainer(tmp_path),
        calibration=None,
    )
    defaults.update(kwargs)
    return DiffusionEstimator(**defaults)


# --------------------------------------------------------------------------- classifier-free guidance
def test_guidance_scale_zero_is_unconditional_and_one_is_conditional():
    model = make_model(condition_dropout=0.3).eval()
    randomize_zero_params(model)
    arch = model.architecture
    inputs = batch_inputs(model, with_future=False)
    context, future, *_ = model.condition(**inputs)
    cond = arch.encode(context, future)
    uncond = arch.encode(context, future, drop=torch.ones(2, dtype=torch.bool))
    x, t = torch.randn(2, *model.diffused_shape), torch.tensor([0.3, 0.8])
    out_c, out_u = arch(x, t, cond), arch(x, t, uncond)
    assert not torch.allclose(out_c, out_u), "the test needs a condition that changes the output"
    parameterization = model.objective.parameterization

    model.guidance_scale = 0.0
    torch.testing.assert_close(
        model.denoiser(cond, uncond).eps(x, t), to_eps(out_u, x, t, model.sde, parameterization), rtol=0, atol=0
    )
    model.guidance_scale = 1.0
    torch.testing.assert_close(
        model.denoiser(cond, uncond).eps(x, t), to_eps(out_c, x, t, model.sde, parameterization), rtol=0, atol=0
    )
    model.guidance_scale = 2.5
    guided = out_u + 2.5 * (out_c - out_u)
    torch.testing.assert_close(
        model.denoiser(cond, uncond).eps(x, t), to_eps(guided, x, t, model.sde, parameterization)
    )


@pytest.mark.parametrize("architecture", ["transformer", "ensemble"])
def test_guided_sampling_uses_the_null_condition(architecture):
    params = TINY[architecture]
    if architecture == "ensemble":
        params = {**params, "aggregation": "mixture", "weights": [0.3, 0.7]}
    model = make_model(architecture, params, condition_dropout=0.2).eval()
    randomize_zero_params(model)
    inputs = batch_inputs(model, with_future=False)

    def sample(scale, always_drop=False):
        m = copy.deepcopy(model)
        m.guidance_scale = scale
        if always_drop:  # the conditional path, with every row's condition replaced by the null one
            encode = m.architecture.encode
            m.architecture.encode = lambda c, f, drop=None: encode(c, f, drop=torch.ones(c.shape[0], dtype=torch.bool))
        return m(**inputs, generator=torch.Generator().manual_seed(3))

    conditional, unconditional = sample(1.0), sample(0.0)
    assert conditional.shape == unconditional.shape == (2, 3, PRED)
    torch.testing.assert_close(unconditional, sample(1.0, always_drop=True), rtol=0, atol=0)
    assert not torch.allclose(conditional, unconditional)
    guided = sample(2.0)
    assert torch.isfinite(guided).all() and not torch.allclose(guided, conditional)


def test_condition_dropout_trains_the_null_condition():
    model = make_model(condition_dropout=0.5)
    randomize_zero_params(model)
    seen = []
    encode = model.architecture.encode
    model.architecture.encode = lambda c, f, drop=None: seen.append(drop) or encode(c, f, drop=drop)
    inputs = batch_inputs(model, batch=16)
    model.train()
    model.loss(**inputs, generator=torch.Generator().manual_seed(0)).mean().backward()
    assert seen[-1] is not None and 0 < int(seen[-1].sum()) < 16
    assert model.architecture.null_memory.grad is not None and model.architecture.null_memory.grad.abs().sum() > 0
    model.eval()
    model.loss(**inputs)
    assert seen[-1] is None, "no condition dropout outside training"


# --------------------------------------------------------------------------- ensemble weights
def ensemble_model(**kwargs):
    params = {
        "models": ["transformer", "cnn"],
        "model_params": {"transformer": TINY["transformer"], "cnn": TINY["cnn"]},
    }
    return make_model("ensemble", {**params, **kwargs})


def test_member_losses_share_one_draw_and_favour_the_better_member():
    model = ensemble_model().eval()
    assert model.architecture.learn_weights
    transformer, cnn = model.architecture.members
    # the transformer starts with a zero output layer: it predicts eps = 0 (loss ~ E[n^2] = 1);
    # the CNN is made to output large values, far from the noise
    with torch.no_grad():
        cnn.output.weight.mul_(50.0)
        cnn.output.bias.fill_(3.0)
    inputs = batch_inputs(model, batch=8)
    losses = model.losses_of(model.architecture.member_networks, inputs, generator=torch.Generator().manual_seed(1))
    assert losses.shape == (2, 8)
    # member i's loss is exactly the objective's loss of that member alone on the same draw
    context, future, x0, mask, noise, _ = model._training_inputs(**inputs)
    cond = model.architecture.encode(context, future)
    for i, member in enumerate(model.architecture.members):
        alone = model.objective.loss(
            lambda x, t, member=member, i=i: member(x, t, cond["members"][i]),
            x0,
            mask,
            model.sde,
            noise,
            generator=torch.Generator().manual_seed(1),
        )
        torch.testing.assert_close(losses[i], alone)
    mean = losses.mean(1)
    assert mean[0] < mean[1]
    weights = model.architecture.set_weights_from_losses(mean.tolist())
    assert float(weights.sum()) == pytest.approx(1.0) and weights[0] > weights[1]


def test_losses_of_the_models_own_denoiser_is_its_loss():
    model = make_model().eval()
    randomize_zero_params(model)
    inputs = batch_inputs(model, batch=4)
    losses = model.losses_of(
        lambda cond: [lambda x, t: model.denoise(x, t, cond)] * 2, inputs, generator=torch.Generator().manual_seed(2)
    )
    with torch.no_grad():  # (attention takes its inference fast path without gradients)
        expected = model.loss(**inputs, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(losses, torch.stack([expected, expected]), rtol=0, atol=0)


def test_validation_loss_scores_every_epoch_on_the_same_draws(monkeypatch):
    """The monitored val_loss (checkpoint choice, LR schedule) moves only when the weights do: a validation batch's
    diffusion times and noise are seeded by its index, and the training RNG stream is left as it was."""
    spec = component_spec({"architecture": "transformer"}, {"architecture": TINY["transformer"]})
    model_kwargs = dict(
        prediction_length=PRED, context_length=CTX, components=spec, lags_seq=[1, 2], num_time_features=1
    )
    module = DiffusionLightningModule(model_kwargs).eval()
    monkeypatch.setattr(module, "log", lambda *args, **kwargs: None)
    batch = batch_inputs(module.model, batch=4)
    state = torch.get_rng_state()
    first, again, other = (module.validation_step(batch, i) for i in (0, 0, 1))
    assert torch.equal(torch.get_rng_state(), state)
    assert float(first) == float(again) and float(first) != float(other)
    with torch.no_grad():
        randomize_zero_params(module.model)
    assert float(module.validation_step(batch, 0)) != float(first)


@pytest.mark.parametrize("validation", [True, False])
def test_estimator_sets_ensemble_weights_in_model_and_ema(tmp_path, monkeypatch, validation):
    calls = []

    def fixed_losses(self, networks, batch, generator=None):  # member 0 is the better one
        calls.append(torch.is_grad_enabled())
        rows = batch["past_target"].shape[0]
        return torch.tensor([[0.5] * rows, [2.0] * rows])

    monkeypatch.setattr(DiffusionModel, "losses_of", fixed_losses)
    data = synthetic()
    estimator = tiny_estimator(tmp_path, "ensemble", architecture_kwargs=MIXTURE)
    torch.manual_seed(0)
    predictor = estimator.train(data, validation_data=data if validation else None)
    net = predictor.prediction_net
    expected = torch.softmax(-torch.tensor([0.5, 2.0]), 0)
    # on the validation batches when there are some, else on the training batches
    assert len(calls) == (1 if validation else estimator.num_batches_per_epoch)
    for model in (net.model, net.ema.module, net.sampling_model):
        assert model.architecture.member_losses == pytest.approx([0.5, 2.0])
        torch.testing.assert_close(model.architecture.weights, expected)
    forecasts = list(predictor.predict(data[:2], num_samples=4))
    assert forecasts[0].samples.shape == (4, PRED) and np.isfinite(forecasts[0].samples).all()


def test_estimator_learns_ensemble_weights_from_validation_losses(tmp_path):
    data = synthetic()
    torch.manual_seed(0)
    predictor = tiny_estimator(tmp_path, "ensemble", architecture_kwargs=MIXTURE).train(data, validation_data=data)
    net = predictor.prediction_net
    losses = torch.tensor(net.sampling_model.architecture.member_losses)
    weights = net.sampling_model.architecture.weights
    assert losses.shape == (2,) and torch.isfinite(losses).all()
    assert float(weights.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(weights, torch.softmax(-losses, 0).to(weights))
    assert int(weights.argmax()) == int(losses.argmin())
    torch.testing.assert_close(net.model.architecture.weights, weights)


def test_weighted_mean_samples_with_the_weights_it_was_trained_with(tmp_path, monkeypatch):
    # the members are trained through the weighted mean: its weights are trained with them by the same loss
    # and never reset from the members' stand-alone losses (which would sample an untrained combination)
    monkeypatch.setattr(DiffusionModel, "losses_of", lambda *a, **k: pytest.fail("weights set from member losses"))
    model = ensemble_model().train()
    model.loss(**batch_inputs(model, batch=4)).mean().backward()
    assert model.architecture.weight_logits.grad is not None and model.architecture.weight_logits.grad.abs().sum() > 0
    torch.manual_seed(0)
    predictor = tiny_estimator(tmp_path, "ensemble").train(synthetic())
    net = predictor.prediction_net
    for model in (net.model, net.ema.module, net.sampling_model):
        arch = model.architecture
        assert arch.member_losses is None
        torch.testing.assert_close(arch.weights, torch.softmax(arch.weight_logits, 0))
        assert not torch.allclose(arch.weights, torch.full((2,), 0.5)), "the weights were trained"


def test_given_ensemble_weights_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(DiffusionModel, "losses_of", lambda *a, **k: pytest.fail("weights were given"))
    params = {**TINY["ensemble"], "weights": [1.0, 3.0]}
    predictor = tiny_estimator(tmp_path, "ensemble", architecture_kwargs=params).train(synthetic())
    torch.testing.assert_close(predictor.prediction_net.sampling_model.architecture.weights, torch.tensor([0.25, 0.75]))


# --------------------------------------------------------------------------- torch.compile
def test_compile_option_gives_the_same_model():
    plain = make_model("cnn").eval()
    compiled = make_model("cnn", compile={"backend": "eager"}).eval()
    compiled.load_state_dict(plain.state_dict())
    assert list(compiled.state_dict()) == list(plain.state_dict()), "compiling must not rename parameters"
    inputs = batch_inputs(plain)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(compiled.loss(**inputs, generator=g()), plain.loss(**inputs, generator=g()))
    sample_inputs = {k: v for k, v in inputs.items() if k in SAMPLING_INPUTS}
    torch.testing.assert_close(compiled(**sample_inputs, generator=g()), plain(**sample_inputs, generator=g()))
    assert compiled.network is not compiled.architecture
    # a copy (the EMA) compiles its own module instead of calling the original's
    twin = copy.deepcopy(compiled)
    assert "_compiled_architecture" not in twin.__dict__
    assert twin.network._orig_mod is twin.architecture
    with pytest.raises(ValueError, match="torch.compile argument"):
        make_model(compile={"backendd": "eager"})


@pytest.mark.skipif(
    not os.environ.get("GLUONTS_DIFFUSION_SLOW_TESTS"),
    reason="the default (inductor) backend compiles C++ for ~20-60 s on CPU even for a tiny model; "
    "set GLUONTS_DIFFUSION_SLOW_TESTS=1 to run it",
)
def test_compile_with_the_default_backend_matches_eager():
    plain = make_model("cnn").eval()
    compiled = make_model("cnn", compile=True).eval()
    compiled.load_state_dict(plain.state_dict())
    inputs = batch_inputs(plain)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(
        compiled.loss(**inputs, generator=g()), plain.loss(**inputs, generator=g()), rtol=1e-4, atol=1e-5
    )


def test_estimator_trains_with_compile(tmp_path):
    estimator = tiny_estimator(tmp_path, "transformer", compile={"backend": "eager"})
    predictor = estimator.train(synthetic())
    assert predictor.prediction_net.model.compile_options == {"backend": "eager"}
    forecasts = list(predictor.predict(synthetic()[:2], num_samples=4))
    assert np.isfinite(forecasts[0].samples).all()


# --------------------------------------------------------------------------- mixed precision
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_bf16_mixed_precision_training(tmp_path, architecture):
    estimator = tiny_estimator(tmp_path, architecture, trainer_kwargs=quiet_trainer(tmp_path, precision="bf16-mixed"))
    torch.manual_seed(0)
    predictor = estimator.train(synthetic(), validation_data=synthetic())
    assert all(p.dtype == torch.float32 for p in predictor.prediction_net.parameters())
    forecasts = list(predictor.predict(synthetic()[:2], num_samples=4))
    assert forecasts[0].samples.dtype == np.float32 and np.isfinite(forecasts[0].samples).all()


def test_sampling_under_autocast_keeps_float32_state():
    model = make_model().eval()
    randomize_zero_params(model)
    inputs = batch_inputs(model, with_future=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        samples = model(**inputs, generator=torch.Generator().manual_seed(0))
        loss = model.loss(**batch_inputs(model))
    assert samples.dtype == torch.float32 and torch.isfinite(samples).all()
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()


# --------------------------------------------------------------------------- gradient checkpointing
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_gradient_checkpointing_same_loss_and_gradients(architecture, monkeypatch):
    params = dict(TINY[architecture])
    if architecture == "transformer":
        params["dropout"] = 0.1  # the RNG state is replayed: dropout masks agree in the recomputation
    plain = make_model(architecture, params)
    ckpt = make_model(architecture, params, gradient_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    assert list(ckpt.state_dict()) == list(plain.state_dict())
    blocks = ckpt.architecture.checkpoint_modules()
    assert blocks, f"{architecture}: nothing to checkpoint"
    calls = []
    original = core_architecture.checkpoint
    monkeypatch.setattr(core_architecture, "checkpoint", lambda *a, **k: calls.append(1) or original(*a, **k))
    for m in (plain, ckpt):
        randomize_zero_params(m, std=0.0)  # keep equal weights (no-op on non-zero parameters)
        m.train()
    inputs = batch_inputs(plain, batch=4)
    results = []
    for m in (plain, ckpt):
        torch.manual_seed(5)
        loss = m.loss(**inputs, generator=torch.Generator().manual_seed(0)).mean()
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}))
    assert len(calls) >= len(blocks)
    torch.testing.assert_close(results[0][0], results[1][0])
    assert results[0][1].keys() == results[1][1].keys()
    for name in results[0][1]:
        torch.testing.assert_close(results[0][1][name], results[1][1][name], msg=name)
    # no checkpointing outside training
    calls.clear()
    with torch.no_grad():
        ckpt.eval()(**batch_inputs(ckpt, with_future=False))
    assert not calls


def test_checkpoint_blocks_of_each_architecture():
    names = {a: {type(b).__name__ for b in make_model(a).architecture.checkpoint_modules()} for a in ARCHITECTURES}
    assert names["transformer"] == {"DenoiserBlock", "TransformerEncoderLayer"}
    assert names["cnn"] == {"_ResidualBlock"}
    assert names["hybrid"] == {"_ConvBlock", "TransformerDecoderLayer"}
    assert names["rnn"] == {"LSTM"}
    assert names["csdi"] == {"CSDILayer", "TransformerEncoderLayer"}
    assert names["ensemble"] == {"_ResidualBlock", "LSTM"}


def test_estimator_trains_with_gradient_checkpointing_and_ema_copy(tmp_path):
    predictor = tiny_estimator(tmp_path, gradient_checkpointing=True).train(synthetic())
    net: DiffusionLightningModule = predictor.prediction_net
    block = net.ema.module.architecture.blocks[0]
    assert block.forward.__self__ is block, "the EMA copy's blocks must run their own weights"
    assert np.isfinite(list(predictor.predict(synthetic()[:1], num_samples=4))[0].samples).all()


# --------------------------------------------------------------------------- padded histories
@pytest.mark.parametrize("target_dim", [1, 3])
def test_padding_of_short_histories_never_reaches_the_model(target_dim):
    model = make_model("cnn", target_dim=target_dim).eval()
    randomize_zero_params(model)
    inputs = batch_inputs(model, batch=2)
    pad = 5  # the instance splitter left-pads short histories with zeros, observed = 0
    inputs["past_observed_values"][:, :pad] = 0.0
    inputs["past_target"][:, :pad] = 0.0
    other = {k: v.clone() for k, v in inputs.items()}
    other["past_target"][:, :pad] = 1e6  # whatever sits in the padding
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(model.loss(**inputs, generator=g()), model.loss(**other, generator=g()))
    sample = {k: v for k, v in inputs.items() if k in SAMPLING_INPUTS}
    sample_other = {k: other[k] for k in sample}
    torch.testing.assert_close(model(**sample, generator=g()), model(**sample_other, generator=g()))
