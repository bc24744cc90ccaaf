"""``DiffusionModel``: the network and the diffusion math of one forecaster (no GluonTS plumbing).

Inputs follow GluonTS's instance splitter: ``past_target`` (batch, past_length[, dim]) with its
``past_observed_values``, ``past_time_feat`` (batch, past_length, F), ``future_time_feat``
(batch, prediction_length, F). ``past_length = context_length + max(lags_seq)``.
The target window is normalized and encoded by the preprocessor, then diffused with the chosen
noise/SDE; the denoiser is conditioned on the encoded history and the known future features.
"""
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from gluonts_diffusion.core.prediction import Prediction
from gluonts_diffusion.core.registry import Registry

from .components import build_components, check_compatible


class DiffusionModel(nn.Module):
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
    ) -> None:
        super().__init__()
        if not 0.0 <= condition_dropout < 1.0:
            raise ValueError(f"condition_dropout must be in [0, 1), got {condition_dropout}")
        self.prediction_length = prediction_length
        self.context_length = context_length
        self.lags_seq = sorted({int(lag) for lag in (lags_seq or [])})
        if any(lag < 1 for lag in self.lags_seq):
            raise ValueError(f"lags_seq must hold lags >= 1, got {lags_seq}")
        self.future_lags = [lag for lag in self.lags_seq if lag >= prediction_length]
        self.past_length = context_length + (max(self.lags_seq) if self.lags_seq else 0)
        self.target_dim = target_dim
        self.num_parallel_samples = num_parallel_samples
        self.condition_dropout = condition_dropout
        self.guidance_scale = guidance_scale

        c = target_dim
        pre_spec = components["preprocessing"]
        pre = Registry.get("preprocessing", pre_spec["name"], **pre_spec.get("params", {}))
        length, channels = pre.diffused_shape(prediction_length, c)
        self.context_dim = c * (3 + len(self.lags_seq)) + num_time_features + pre.num_context_features(c)
        self.future_dim = c * len(self.future_lags) + num_time_features
        built = build_components(
            components,
            prebuilt={"preprocessing": pre},
            length=length,
            channels=channels,
            context_length=context_length,
            context_dim=self.context_dim,
            future_dim=self.future_dim,
            prediction_length=prediction_length,
        )
        check_compatible(built)
        self.preprocessing = built["preprocessing"]
        self.architecture = built["architecture"]
        self.noise, self.sde = built["noise"], built["sde"]
        self.objective, self.sampler = built["objective"], built["sampler"]
        self.diffused_shape = (length, channels)

    # ------------------------------------------------------------------ conditioning
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
    ) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Scale the history and build the context ``(batch, context_length, context_dim)`` and future
        features ``(batch, prediction_length, future_dim)``; also returns the scaling state and the
        scaled, masked history with its mask (batch, past_length, C)."""
        if past_target.ndim == 2:
            past_target, past_observed_values = past_target.unsqueeze(-1), past_observed_values.unsqueeze(-1)
        observed = past_observed_values.to(past_target.dtype)
        ctx = slice(self.past_length - self.context_length, self.past_length)
        state = self.preprocessing.fit(past_target[:, ctx], observed[:, ctx])
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
        return context, future, state, scaled, observed

    # ------------------------------------------------------------------ training
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
        context, future, state, scaled, observed = self.condition(
            past_target, past_observed_values, past_time_feat, future_time_feat
        )
        if future_target.ndim == 2:
            future_target, future_observed_values = future_target.unsqueeze(-1), future_observed_values.unsqueeze(-1)
        mask = future_observed_values.to(future_target.dtype)
        x0 = self.preprocessing.transform(future_target * mask, state)
        mask = self.preprocessing.transform_mask(mask)
        drop = None
        if self.training and self.condition_dropout > 0:
            drop = torch.rand(x0.shape[0], device=x0.device, generator=generator) < self.condition_dropout
        cond = self.architecture.encode(context, future, drop=drop)
        noise = self.noise.conditioned_on(scaled, observed)
        return self.objective.loss(
            lambda x, t: self.architecture(x, t, cond), x0, mask, self.sde, noise, generator=generator
        )

    # ------------------------------------------------------------------ sampling
    def prediction(self, cond: Any, uncond: Any = None) -> Prediction:
        """The sampler's view of the denoiser, with classifier-free guidance when ``uncond`` is given."""
        w = self.guidance_scale

        def network(x, t):
            if uncond is None:
                return self.architecture(x, t, cond)
            if w == 0.0:
                return self.architecture(x, t, uncond)
            out_c = self.architecture(x, t, cond)
            out_u = self.architecture(x, t, uncond)
            return out_u + w * (out_c - out_u)

        return Prediction(network, self.sde, self.objective.prediction)

    def forward(
        self,
        past_target: torch.Tensor,
        past_observed_values: torch.Tensor,
        past_time_feat: torch.Tensor,
        future_time_feat: torch.Tensor,
        num_parallel_samples: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Sample paths (batch, num_samples, prediction_length[, dim]) in the data's scale."""
        s = num_parallel_samples or self.num_parallel_samples
        context, future, state, scaled, observed = self.condition(
            past_target, past_observed_values, past_time_feat, future_time_feat
        )
        batch = context.shape[0]
        cond = self.architecture.encode(context, future)
        uncond = None
        if self.guidance_scale != 1.0:
            uncond = self.architecture.encode(context, future, drop=torch.ones(batch, dtype=torch.bool, device=context.device))
            uncond = self.architecture.repeat_condition(uncond, s)
        cond = self.architecture.repeat_condition(cond, s)
        noise = self.noise.conditioned_on(scaled.repeat_interleave(s, 0), observed.repeat_interleave(s, 0))
        z = self.sampler(
            self.prediction(cond, uncond),
            (batch * s, *self.diffused_shape),
            self.sde,
            noise,
            generator=generator,
            device=context.device,
            dtype=context.dtype,
        )
        state = {k: v.repeat_interleave(s, 0) for k, v in state.items()}
        y = self.preprocessing.inverse_transform(z, state)[:, : self.prediction_length]
        y = y.reshape(batch, s, self.prediction_length, -1)
        return y.squeeze(-1) if self.target_dim == 1 else y
