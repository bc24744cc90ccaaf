"""``DiffusionModel``: the network and the diffusion math of one forecaster (no GluonTS plumbing).

Inputs follow GluonTS's instance splitter: ``past_target`` (batch, past_length[, dim]) with its
``past_observed_values``, ``past_time_feat`` (batch, past_length, F), ``future_time_feat``
(batch, prediction_length, F). ``past_length = context_length + max(lags_seq)``.
The target window is normalized and encoded by the preprocessor, then diffused with the chosen
noise/SDE; the denoiser is conditioned on the encoded history and the known future features.

Series of different lengths batch together: the instance splitter left-pads every history to
``past_length`` with zeros and ``past_observed_values = 0``, and every use of the history here is masked
by it (scaling statistics, the context features, data-dependent noise), so padding never reaches the
model as data; unobserved future values are masked out of the loss the same way.

Mixed precision (Lightning ``precision="bf16-mixed"`` / ``"16-mixed"``): the network may run under
autocast, but its outputs are cast back to the dtype of the diffused tensor, so the diffusion math,
the loss and the sampler's state stay in float32.
"""

from functools import partial
from typing import Any, Callable, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

import torch
from gluonts.model.inputs import InputSpec
from torch import nn

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.denoiser import Denoiser
from gluonts_diffusion.core.masks import history_keep_mask, window_known_mask

from .given_window import (
    DEFAULT_IMPUTATION_ANCHOR,
    check_anchor,
    check_forecast_anchor,
    check_season,
    forecast_anchor_state,
    from_anchor,
    given_window,
    hide_given,
    to_anchor,
    window_features,
)
from .inputs import input_spec
from .options import CompiledNetwork, check_clip_x0, check_time_domain, clip_bounds, compile_options
from .specs import build_component, build_components, check_compatible


class DiffusionModel(CompiledNetwork, nn.Module):
    """Args:
    prediction_length, context_length: window lengths.
    components: ``{kind: {"name": str, "params": dict}}`` for the six component kinds.
    lags_seq: lags (>= 1) of the scaled target given to the history tokens; lags >= prediction_length
        are also given to the future tokens (seasonal values known at forecast time).
    num_time_features: time features per step (GluonTS's time features + age).
    target_dim: 1 for univariate series, the number of series for a multivariate target.
    num_parallel_samples: sample paths drawn per series by ``forward``.
    condition_dropout: probability of training a row unconditionally (classifier-free guidance).
    guidance_scale: 0 = unconditional, 1 = conditional, > 1 = guided (Ho & Salimans, 2022).
    compile: ``torch.compile`` the architecture's per-step ``forward`` (the cost of training and
        sampling): ``False`` (default), ``True``, or a dict of ``torch.compile`` arguments
        (``backend``, ``mode``, ``fullgraph``, ``dynamic``, ...). Compiled lazily, on first use, by each
        copy of the model (the EMA copy too); parameters and ``state_dict`` are those of the plain module.
    gradient_checkpointing: recompute the architecture's blocks in the backward pass instead of storing
        their activations (:meth:`BaseArchitecture.enable_gradient_checkpointing
        <gluonts_diffusion.core.architecture.BaseArchitecture.enable_gradient_checkpointing>`): less memory,
        about one more forward pass per step; same loss and gradients.
    clip_x0: at sampling only, keep the predicted clean window within ``k = clip_x0`` history ranges of the
        scaled observed context, per series and channel (:func:`~gluonts_diffusion.core.denoiser.history_bounds`;
        Saharia et al., 2022); ``None`` (default) = off. Needs a preprocessing that diffuses the scaled window
        itself (not ``fourier`` or ``wavelet`` coefficients).
    imputation: train on CSDI's masks (:mod:`gluonts_diffusion.core.masks`): some rows hide random points or a
        block of the window and give the rest of it to the network, and random history points are hidden, so
        the same model forecasts and imputes (``forward(..., future_target=, future_known=)``). The known
        window values, their mask and their linear interpolation from the history's last observed value on
        (:func:`~gluonts_diffusion.core.masks.linear_fill`) are three more future features per channel (four with
        ``imputation_season``). Needs a
        time-domain preprocessing, like ``clip_x0``.
    imputation_anchor: with ``imputation``, what the scaled window is diffused relative to: ``"bridge"``
        (default) its residual from that linear interpolation, in units of a random walk's spread given the nearest
        known values (:func:`~gluonts_diffusion.core.masks.bridge_spread`), so given values are exact zeros, a
        network that has learned nothing returns the interpolation, and a missing value between observed neighbours
        is not lost in the scale of the series; ``"linear"``: the residual alone; ``"none"``: the window itself (0.3.0).
    imputation_season: with ``imputation``, the season (in steps) of a fourth window feature per channel, the
        seasonal fill of the known values (:func:`~gluonts_diffusion.core.masks.seasonal_fill`); ``None``: none.
    forecast_anchor: without ``imputation``, the same anchors for a forecast (:func:`forecast_anchor_state`):
        ``"bridge"`` diffuses the window's change from the history's last observed value in units of a random
        walk's spread from it (``step * sqrt(h)``), ``"linear"`` the change alone, ``"none"`` (default) the window.
    """

    def __init__(
        self,
        prediction_length: int,
        context_length: int,
        components: Dict[str, Dict[str, Any]],
        lags_seq: Optional[List[int]] = None,
        num_time_features: int = 0,
        target_dim: int = 1,
        num_parallel_samples: int = 100,
        condition_dropout: float = 0.0,
        guidance_scale: float = 1.0,
        compile: Union[bool, Dict[str, Any]] = False,
        gradient_checkpointing: bool = False,
        clip_x0: Optional[float] = None,
        imputation: bool = False,
        imputation_anchor: str = DEFAULT_IMPUTATION_ANCHOR,
        imputation_season: Optional[int] = None,
        forecast_anchor: str = "none",
    ) -> None:
        super().__init__()
        if not 0.0 <= condition_dropout < 1.0:
            raise ValueError(f"condition_dropout must be in [0, 1), got {condition_dropout}")
        self.clip_x0 = check_clip_x0(clip_x0)
        self.prediction_length, self.context_length = prediction_length, context_length
        self.lags_seq = sorted({int(lag) for lag in (lags_seq or [])})
        if any(lag < 1 for lag in self.lags_seq):
            raise ValueError(f"lags_seq must hold lags >= 1, got {lags_seq}")
        self.future_lags = [lag for lag in self.lags_seq if lag >= prediction_length]
        self.past_length = context_length + (max(self.lags_seq) if self.lags_seq else 0)
        self.target_dim = target_dim
        self.num_parallel_samples = num_parallel_samples
        self.condition_dropout, self.guidance_scale = condition_dropout, guidance_scale
        self.num_time_features = num_time_features
        c = target_dim
        pre = build_component("preprocessing", components["preprocessing"])
        self.imputation, self.imputation_season = bool(imputation), check_season(imputation_season)
        self.imputation_anchor = check_anchor(imputation_anchor)
        self.forecast_anchor = check_forecast_anchor(forecast_anchor, self.imputation)
        check_time_domain(pre, components["preprocessing"]["name"], self.clip_x0, self.imputation, self.forecast_anchor)
        length, channels = pre.diffused_shape(prediction_length, c)
        context_dim = c * (3 + len(self.lags_seq)) + num_time_features + pre.num_context_features(c)
        window_dim = (4 if imputation_season else 3) * c if self.imputation else 0
        future_dim = c * len(self.future_lags) + num_time_features + window_dim
        self.shapes = ArchitectureShapes(length, channels, context_length, context_dim, future_dim, prediction_length)
        built = build_components(components, self.shapes, prebuilt={"preprocessing": pre})
        check_compatible(built)
        self.preprocessing = built["preprocessing"]
        self.architecture = built["architecture"]
        self.noise, self.sde = built["noise"], built["sde"]
        self.objective, self.sampler = built["objective"], built["sampler"]
        self.compile_options = compile_options(compile)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        if self.gradient_checkpointing:
            self.architecture.enable_gradient_checkpointing()

    # ------------------------------------------------------------------ network
    def denoise(
        self, x: torch.Tensor, t: torch.Tensor, cond: Any, given: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """One network evaluation ``(batch, length, channels)``, returned in ``x``'s dtype (under autocast
        the network may compute in bf16/fp16; the diffusion math stays in float32). ``given``: see :func:`hide_given`."""
        return self.network(hide_given(x, given), t, cond).to(x.dtype)

    @property
    def diffused_shape(self) -> Tuple[int, int]:
        """``(length, channels)`` of the diffused window (the preprocessor's representation of the horizon)."""
        return self.shapes.length, self.shapes.channels

    def describe_inputs(
        self, batch_size: int = 1, stage: Literal["prediction", "training", "denoiser"] = "prediction"
    ) -> InputSpec:
        """Names and shapes of the inputs, as GluonTS's networks describe them: ``prediction``, those of
        :meth:`forward` (the predictor's input names); ``training``, those of :meth:`loss` (the training
        batches); ``denoiser``, those of one network evaluation ``(x_t, t, context, future_features)``."""
        return input_spec(self.shapes, self.target_dim, self.past_length, self.num_time_features, batch_size, stage)

    # ------------------------------------------------------------------ conditioning
    @property
    def context_window(self) -> slice:
        """The last ``context_length`` steps of the ``past_length`` history."""
        return slice(self.past_length - self.context_length, self.past_length)

    def _lagged(self, scaled: torch.Tensor, lags: List[int], start: int, stop: int) -> torch.Tensor:
        """Values ``scaled[:, i - lag]`` for i in [start, stop) and each lag -> (batch, stop-start, C*len(lags))."""
        if not lags:
            return scaled.new_zeros(scaled.shape[0], stop - start, 0)
        return torch.cat([scaled[:, start - lag : stop - lag] for lag in lags], dim=-1)

    def condition(
        self,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        past_time_feat: torch.Tensor,
        future_time_feat: torch.Tensor,
        future_target: Optional[torch.Tensor] = None,
        future_known: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Scale the history and build the context ``(batch, context_length, context_dim)`` and future
        features ``(batch, prediction_length, future_dim)``; also returns the scaling state and the
        scaled, masked history with its mask (batch, past_length, C). With ``imputation``, the window values
        ``future_target`` where ``future_known`` (batch, prediction_length[, C]) is 1 are future features too
        (none known: a forecast), and count in the scaling statistics."""
        if past_target.ndim == 2:
            past_target, past_observed_values = past_target.unsqueeze(-1), past_observed_values.unsqueeze(-1)
        observed = past_observed_values.to(past_target.dtype)
        ctx = self.context_window
        fit_target, fit_observed = past_target[:, ctx], observed[:, ctx]
        window = None
        if self.imputation:
            window = given_window(future_target, future_known, fit_target, self.prediction_length)
        if window is not None:  # the given values count for the scale too: a window with little history keeps one
            fit_target, fit_observed = torch.cat([fit_target, window[0]], 1), torch.cat([fit_observed, window[1]], 1)
        state = self.preprocessing.fit(fit_target, fit_observed)
        scaled = self.preprocessing.normalize(past_target, state) * observed
        n = self.past_length
        parts = [
            scaled[:, ctx],
            observed[:, ctx],
            torch.log(state["scale"]).expand(-1, self.context_length, -1),
            self._lagged(scaled, self.lags_seq, n - self.context_length, n),
            past_time_feat[:, ctx],
        ]
        extra = self.preprocessing.context_features(scaled[:, ctx], observed[:, ctx])
        if extra is not None:
            parts.append(extra)
        context = torch.cat(parts, dim=-1)
        padded = torch.cat([scaled, scaled.new_zeros(scaled.shape[0], self.prediction_length, scaled.shape[2])], 1)
        future = torch.cat(
            [self._lagged(padded, self.future_lags, n, n + self.prediction_length), future_time_feat], dim=-1
        )
        if self.imputation:
            norm = partial(self.preprocessing.normalize, state=state)
            options = (self.prediction_length, norm, self.imputation_anchor, self.imputation_season)
            features, anchored = window_features(scaled[:, ctx], observed[:, ctx], window, *options)
            future, state = torch.cat([future, features], dim=-1), {**state, **anchored}
        elif future_known is not None and bool(future_known.any()):
            raise ValueError(
                "this model was not trained to condition on window values (imputation is off); "
                "train it with imputation: true"
            )
        else:
            anchor = self.forecast_anchor
            state = {**state, **forecast_anchor_state(scaled[:, ctx], observed[:, ctx], self.prediction_length, anchor)}
        return context, future, state, scaled, observed

    # ------------------------------------------------------------------ training
    def _training_inputs(
        self,
        past_target,
        past_observed_values,
        past_time_feat,
        future_time_feat,
        future_target,
        future_observed_values,
        generator=None,
    ):
        """Context, future features, the future window ``x0`` in the diffused representation, the mask of its
        entries to learn, the noise bound to the batch's history, and the given entries (or None). With
        ``imputation``, while training, CSDI's masks hide history points and choose window entries given as a
        condition: they leave the loss and the network's noisy input (:meth:`denoise`)."""
        if future_target.ndim == 2:
            future_target, future_observed_values = future_target.unsqueeze(-1), future_observed_values.unsqueeze(-1)
        mask = future_observed_values.to(future_target.dtype)
        known = None
        if self.imputation and self.training:
            keep = history_keep_mask(past_observed_values.shape, generator=generator, device=mask.device)
            past_observed_values = past_observed_values * keep.to(past_observed_values.dtype)
            known = window_known_mask(mask.shape, generator=generator, device=mask.device).to(mask.dtype) * mask
        context, future, state, scaled, observed = self.condition(
            past_target, past_observed_values, past_time_feat, future_time_feat, future_target, known
        )
        # as the history: missing values are 0 in the normalized space, whatever dummy the data loader wrote there
        normalized = to_anchor(self.preprocessing.normalize(future_target, state), state)
        x0 = self.preprocessing.encode(torch.where(mask > 0, normalized, torch.zeros_like(normalized)))
        noise = self.noise.conditioned_on(scaled, observed)
        learned = mask if known is None else mask * (1 - known)
        return context, future, x0, self.preprocessing.transform_mask(learned), noise, known

    def loss(
        self,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        past_time_feat: torch.Tensor,
        future_time_feat: torch.Tensor,
        future_target: torch.Tensor,
        future_observed_values: torch.Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Per-series training loss (batch,)."""
        past = (past_target, past_observed_values, past_time_feat, future_time_feat)
        context, future, x0, mask, noise, given = self._training_inputs(
            *past, future_target, future_observed_values, generator=generator
        )
        drop = None
        if self.training and self.condition_dropout > 0:
            drop = torch.rand(x0.shape[0], device=x0.device, generator=generator) < self.condition_dropout
        cond = self.architecture.encode(context, future, drop=drop)
        return self.objective.loss(
            lambda x, t: self.denoise(x, t, cond, given), x0, mask, self.sde, noise, generator=generator
        )

    @torch.no_grad()
    def losses_of(
        self,
        networks: Callable[[Any], Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]],
        batch: Mapping[str, torch.Tensor],
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Training losses ``(num_networks, batch)`` of the denoisers ``network(x_t, t)`` that ``networks(cond)``
        binds to the batch's condition (e.g. an ensemble's ``member_networks``), all on one draw of times and
        noise (the generator's state is replayed for each), without condition dropout. ``batch`` holds the
        training inputs (:meth:`describe_inputs`); ``generator`` defaults to one seeded from the global RNG."""
        inputs = {name: batch[name] for name in self.describe_inputs(stage="training")}
        context, future, x0, mask, noise, given = self._training_inputs(**inputs)
        cond = self.architecture.encode(context, future)
        if generator is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
            generator = torch.Generator(device=x0.device).manual_seed(seed)
        start = generator.get_state()
        losses = []
        for network in networks(cond):
            generator.set_state(start)
            losses.append(
                self.objective.loss(
                    lambda x, t, network=network: network(hide_given(x, given), t).to(x.dtype),
                    x0,
                    mask,
                    self.sde,
                    noise,
                    generator=generator,
                )
            )
        return torch.stack(losses)

    # ------------------------------------------------------------------ sampling
    def denoiser(self, cond: Any, uncond: Any = None, x0_bounds=None, given=None) -> Denoiser:
        """The sampler's view of the denoiser, with classifier-free guidance when ``uncond`` is given:
        ``out_u + w (out_c - out_u)``; ``w = 0`` evaluates only the unconditional network and ``w = 1``
        only the conditional one (exactly). ``x0_bounds``: see :class:`Denoiser`; ``given``: see :meth:`denoise`."""
        w = self.guidance_scale

        def network(x, t):
            if uncond is None or w == 1.0:
                return self.denoise(x, t, cond, given)
            if w == 0.0:
                return self.denoise(x, t, uncond, given)
            out_c = self.denoise(x, t, cond, given)
            out_u = self.denoise(x, t, uncond, given)
            return out_u + w * (out_c - out_u)

        return Denoiser(network, self.sde, self.objective.parameterization, self.objective.sigma_data, x0_bounds)

    def forward(
        self,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        past_time_feat: torch.Tensor,
        future_time_feat: torch.Tensor,
        num_parallel_samples: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        future_target: Optional[torch.Tensor] = None,
        future_known: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Sample paths (batch, num_samples, prediction_length[, dim]) in the data's scale.

        Imputation (a model trained with ``imputation``): the entries of ``future_target`` where
        ``future_known`` (batch, prediction_length[, dim]) is 1 are given; every path returns them unchanged
        and samples the others conditionally on them.

        With ``guidance_scale != 1`` the null condition (every row dropped) is encoded too and repeated
        like the condition, and :meth:`prediction` mixes the two outputs at every step.
        """
        s = num_parallel_samples or self.num_parallel_samples
        context, future, state, scaled, observed = self.condition(
            past_target, past_observed_values, past_time_feat, future_time_feat, future_target, future_known
        )
        batch = context.shape[0]
        uncond = None
        if self.guidance_scale != 1.0:
            uncond = self.architecture.encode(
                context, future, drop=torch.ones(batch, dtype=torch.bool, device=context.device)
            )
            uncond = self.architecture.repeat_condition(uncond, s)
        cond = None
        if self.guidance_scale != 0.0:
            cond = self.architecture.repeat_condition(self.architecture.encode(context, future), s)
        noise = self.noise.conditioned_on(scaled, observed)  # data-dependent noises serve each series' s rows
        bounds = clip_bounds(self.clip_x0, scaled[:, self.context_window], observed[:, self.context_window], s, state)
        window = given_window(future_target, future_known, scaled, self.prediction_length) if self.imputation else None
        given = None if window is None else window[1].repeat_interleave(s, 0)
        z = self.sampler(
            self.denoiser(cond, uncond, bounds, given)
            if cond is not None
            else self.denoiser(uncond, None, bounds, given),
            (batch * s, *self.diffused_shape),
            self.sde,
            noise,
            generator=generator,
            device=context.device,
            dtype=torch.float32 if context.dtype in (torch.float16, torch.bfloat16) else context.dtype,
        )
        state = {k: v.repeat_interleave(s, 0) for k, v in state.items()}
        z = from_anchor(z.to(context.dtype), state)  # anchors need a time-domain preprocessing
        y = self.preprocessing.inverse_transform(z, state)[:, : self.prediction_length]
        y = y.reshape(batch, s, self.prediction_length, -1)
        if window is not None:
            y = torch.where(window[1].unsqueeze(1) > 0, window[0].unsqueeze(1).to(y.dtype), y)
        return y.squeeze(-1) if self.target_dim == 1 else y
