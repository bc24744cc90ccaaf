"""Abstract interfaces of the six component kinds.

Conventions shared by all of them (see README "Conventions"):

* diffused tensors are ``(batch, length, channels)``; diffusion time ``t`` is ``(batch,)``;
* time runs over ``[sde.eps, 1]``: ``t = 0`` is data, ``t = 1`` is the prior;
* every forward process is Gaussian with marginal ``x_t = alpha(t) * x_0 + sigma(t) * n``
  where ``n`` is drawn by the noise component (covariance ``Sigma`` over the time axis);
* "score" always means the noise-preconditioned score ``Sigma @ grad log p_t(x)``, so that
  samplers never have to invert ``Sigma`` (for iid noise it is the plain score).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from .registry import Registry
from .tensors import expand_t


class Component:
    """Mixin: a component may refuse a combination with a one-line reason."""

    compatibility: str = "works with every other component"
    #: constructor parameters the model sets (from the data); users do not pass them
    filled_by_model: Tuple[str, ...] = ()

    def check_compatibility(self, components: Dict[str, Any]) -> Optional[str]:
        """Return why this component cannot run together with ``components`` (kind -> instance), else None."""
        return None


# --------------------------------------------------------------------------- preprocessing
class BasePreprocessor(Component, nn.Module):
    """Maps a window of the target to the object that is diffused, and back.

    Every preprocessor first normalizes each series with statistics of its observed history
    (``scaling``: ``std`` = standardize, ``mean`` = divide by the mean absolute value as GluonTS's
    MeanScaler, ``none``), then ``encode``s the normalized window into its representation.
    ``inverse_transform(transform(x)) == x`` exactly. Shapes: windows ``(batch, length, channels)``,
    state tensors ``(batch, 1, channels)``.
    """

    def __init__(self, scaling: str = "std", min_scale: float = 1e-5) -> None:
        nn.Module.__init__(self)
        if scaling not in ("std", "mean", "none"):
            raise ValueError(f"scaling must be 'std', 'mean' or 'none', got {scaling!r}")
        self.scaling = scaling
        self.min_scale = float(min_scale)

    def fit(self, past_target: torch.Tensor, past_observed: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Per-series ``loc`` and ``scale`` ``(batch, 1, channels)`` from the observed history."""
        weight = past_observed.to(past_target.dtype)
        count = weight.sum(1, keepdim=True).clamp_min(1.0)
        zeros = torch.zeros_like(count)
        if self.scaling == "std":
            loc = (past_target * weight).sum(1, keepdim=True) / count
            var = (((past_target - loc) * weight) ** 2).sum(1, keepdim=True) / count
            scale = var.sqrt()
        elif self.scaling == "mean":
            loc = zeros
            scale = (past_target.abs() * weight).sum(1, keepdim=True) / count
        else:
            return {"loc": zeros, "scale": torch.ones_like(count)}
        # a constant or unobserved history has no spread: fall back to its level, then to 1
        level = (past_target.abs() * weight).sum(1, keepdim=True) / count
        scale = torch.where(scale > self.min_scale, scale, torch.where(level > self.min_scale, level, torch.ones_like(scale)))
        return {"loc": loc, "scale": scale}

    def normalize(self, x: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return (x - state["loc"]) / state["scale"]

    def denormalize(self, x: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return x * state["scale"] + state["loc"]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized window ``(batch, length, channels)`` -> representation ``(batch, length', channels')``."""
        return x

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`encode`."""
        return z

    def transform(self, x: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encode(self.normalize(x, state))

    def inverse_transform(self, z: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.denormalize(self.decode(z), state)

    def transform_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Observed-values mask in the diffused representation (default: unchanged)."""
        return mask

    def diffused_shape(self, length: int, channels: int) -> Tuple[int, int]:
        """Shape ``(length', channels')`` of ``encode`` applied to a ``(length, channels)`` window."""
        return length, channels

    def num_context_features(self, channels: int) -> int:
        """Number of extra per-time-step conditioning features :meth:`context_features` adds."""
        return 0

    def context_features(self, past_normalized: torch.Tensor, past_observed: torch.Tensor) -> Optional[torch.Tensor]:
        """Extra conditioning features ``(batch, context_length, F)`` computed from the history only."""
        return None


# --------------------------------------------------------------------------- architecture
class BaseArchitecture(Component, nn.Module):
    """A denoiser network ``f(x_t, t, cond) -> (batch, length, channels)``.

    Built with the shapes it serves; ``encode`` turns the history into a conditioning object once per
    series, and ``forward`` is called at every diffusion step with that object.

    Args:
        length, channels: shape of the diffused object.
        context_length: time steps of history.
        context_dim: features per history step (scaled target, observed mask, lags, time features...).
        future_dim: known features per step of the prediction window (time features, age).
        prediction_length: steps of the prediction window (the future features' length).
    """

    filled_by_model = ("length", "channels", "context_length", "context_dim", "future_dim", "prediction_length")

    def __init__(
        self,
        length: int,
        channels: int,
        context_length: int,
        context_dim: int,
        future_dim: int,
        prediction_length: Optional[int] = None,
    ) -> None:
        nn.Module.__init__(self)
        self.length = length
        self.channels = channels
        self.context_length = context_length
        self.context_dim = context_dim
        self.future_dim = future_dim
        self.prediction_length = prediction_length or length

    @abstractmethod
    def encode(
        self, context: torch.Tensor, future_features: torch.Tensor, drop: Optional[torch.Tensor] = None
    ) -> Any:
        """``context`` (batch, context_length, context_dim), ``future_features`` (batch, prediction_length,
        future_dim) -> conditioning. ``drop`` (batch,) bool marks rows whose condition is replaced by the
        learned null condition (classifier-free guidance)."""

    @abstractmethod
    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Any) -> torch.Tensor:
        """``x_t`` (batch, length, channels), ``t`` (batch,) in [0, 1] -> (batch, length, channels)."""

    @staticmethod
    def repeat_condition(cond: Any, repeats: int) -> Any:
        """Repeat a conditioning object ``repeats`` times per row (sample paths of one series are adjacent)."""
        if isinstance(cond, torch.Tensor):
            return cond.repeat_interleave(repeats, dim=0)
        if isinstance(cond, (tuple, list)):
            return type(cond)(BaseArchitecture.repeat_condition(c, repeats) for c in cond)
        if isinstance(cond, dict):
            return {k: BaseArchitecture.repeat_condition(v, repeats) for k, v in cond.items()}
        return cond


# --------------------------------------------------------------------------- noise
class BaseNoise(Component, ABC):
    """The distribution of the diffusion noise ``n``: zero mean, covariance ``Sigma`` over the time axis.

    Channels and batch rows are independent. ``sample`` must have exactly the covariance that
    :meth:`covariance` declares; samplers draw every stochastic increment from it.
    """

    @abstractmethod
    def sample(
        self, shape: Sequence[int], generator: Optional[torch.Generator] = None, device=None, dtype=None
    ) -> torch.Tensor:
        """Noise of ``shape`` ``(batch, length, channels)``."""

    @abstractmethod
    def covariance(self, length: int) -> torch.Tensor:
        """The declared ``(length, length)`` covariance of one channel of one row (float64)."""

    def conditioned_on(self, past_scaled: torch.Tensor, past_observed: torch.Tensor) -> "BaseNoise":
        """Noise for a batch of series given their (scaled) history; data-dependent noise overrides this."""
        return self

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        """``Sigma^{-1/2} z`` along the time axis (via the Cholesky factor of :meth:`covariance`)."""
        chol = torch.linalg.cholesky(self.covariance(z.shape[1])).to(z)
        return torch.linalg.solve_triangular(chol, z, upper=False)

    def log_prob(self, z: torch.Tensor, scale: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Log density of ``scale * n`` at ``z`` (batch, length, channels) summed per row -> (batch,)."""
        scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
        white = self.whiten(z / (expand_t(scale, z) if scale.ndim else scale))
        chol = torch.linalg.cholesky(self.covariance(z.shape[1]))
        length, channels = z.shape[1], z.shape[2]
        logdet = 2 * torch.log(torch.diagonal(chol)).sum().to(z) + 2 * length * torch.log(scale)
        return -0.5 * white.pow(2).flatten(1).sum(1) - 0.5 * channels * (
            logdet + length * torch.log(torch.tensor(2 * torch.pi, dtype=z.dtype, device=z.device))
        )


# --------------------------------------------------------------------------- SDE
class BaseSDE(Component, ABC):
    """A forward SDE ``dx = f(t) x dt + g(t) Sigma^{1/2} dW`` on ``t in [eps, 1]`` (Song et al., 2021).

    Subclasses give the marginal coefficients ``alpha(t)``, ``sigma(t)``; drift coefficient ``f`` and
    diffusion ``g`` follow from them (``f = d log alpha/dt``, ``g^2 = d sigma^2/dt - 2 f sigma^2``) unless
    overridden with closed forms. All take and return ``(batch,)`` tensors.
    """

    #: linear-Gaussian path with a closed-form (or numerically exact) marginal
    has_marginal: bool = True

    def __init__(self, eps: float = 1e-3) -> None:
        self.eps = float(eps)

    @abstractmethod
    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Mean coefficient: ``E[x_t | x_0] = alpha(t) x_0``."""

    @abstractmethod
    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Std coefficient: ``Cov[x_t | x_0] = sigma(t)^2 Sigma``."""

    def _time_derivative(self, fn, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            tt = t.detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(fn(tt).sum(), tt)
        return grad.detach()

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        return self._time_derivative(self.alpha, t)

    def d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        return self._time_derivative(self.sigma, t)

    def drift_coef(self, t: torch.Tensor) -> torch.Tensor:
        """``f(t)``: the drift is ``f(t) x``."""
        return self.d_alpha(t) / self.alpha(t)

    def diffusion(self, t: torch.Tensor) -> torch.Tensor:
        """``g(t)``."""
        s = self.sigma(t)
        g2 = 2 * s * self.d_sigma(t) - 2 * self.drift_coef(t) * s**2
        return g2.clamp_min(0).sqrt()

    def sde(self, x: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Drift ``f(t) x`` (shape of x) and diffusion ``g(t)`` (batch,)."""
        return expand_t(self.drift_coef(t), x) * x, self.diffusion(t)

    def marginal_prob(self, x0: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean ``alpha(t) x0`` and std ``sigma(t)`` (batch,) of ``x_t | x_0``."""
        return expand_t(self.alpha(t), x0) * x0, self.sigma(t)

    def prior_std(self) -> float:
        """Std of the prior ``p_1 = N(0, prior_std^2 Sigma)``."""
        return float(self.sigma(torch.tensor([1.0], dtype=torch.float64)))

    def prior_sampling(
        self, shape: Sequence[int], noise: BaseNoise, generator: Optional[torch.Generator] = None, device=None, dtype=None
    ) -> torch.Tensor:
        return self.prior_std() * noise.sample(shape, generator=generator, device=device, dtype=dtype)

    def prior_logp(self, z: torch.Tensor, noise: BaseNoise) -> torch.Tensor:
        """Log density of the prior at ``z`` -> (batch,)."""
        return noise.log_prob(z, self.prior_std())

    def log_snr(self, t: torch.Tensor) -> torch.Tensor:
        """``lambda(t) = log(alpha^2 / sigma^2)``, decreasing in t."""
        return 2 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def t_from_log_snr(self, lam: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`log_snr` (bisection on [eps, 1]; closed forms override)."""
        lo = torch.full_like(lam, self.eps, dtype=torch.float64)
        hi = torch.ones_like(lam, dtype=torch.float64)
        lam = lam.to(torch.float64)
        for _ in range(60):
            mid = (lo + hi) / 2
            above = self.log_snr(mid) > lam
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
        return (lo + hi) / 2

    def reverse_drift(
        self, x: torch.Tensor, t: torch.Tensor, score: torch.Tensor, probability_flow: bool = False
    ) -> torch.Tensor:
        """Drift of the reverse-time SDE (or of the probability-flow ODE) given the preconditioned score."""
        drift, g = self.sde(x, t)
        factor = 0.5 if probability_flow else 1.0
        return drift - factor * expand_t(g**2, x) * score


# --------------------------------------------------------------------------- objective
class BaseObjective(Component, ABC):
    """A training loss for the denoiser.

    ``prediction`` names what the network outputs (``eps``, ``x0``, ``score`` or ``velocity``); the
    :class:`~gluonts_diffusion.core.prediction.Prediction` layer converts it for the samplers.
    """

    prediction: str = "eps"

    def sample_time(self, batch: int, sde: BaseSDE, generator=None, device=None, dtype=None) -> torch.Tensor:
        """Training times ``(batch,)``, uniform on ``[sde.eps, 1]`` by default."""
        u = torch.rand(batch, generator=generator, device=device, dtype=dtype)
        return sde.eps + (1 - sde.eps) * u

    @abstractmethod
    def loss(
        self,
        network,
        x0: torch.Tensor,
        mask: torch.Tensor,
        sde: BaseSDE,
        noise: BaseNoise,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Per-row loss ``(batch,)``. ``network(x_t, t)`` returns the raw output; ``mask`` (batch, length,
        channels) is 1 where ``x0`` is observed."""


# --------------------------------------------------------------------------- sampler
class BaseSampler(Component, ABC):
    """Integrates from the prior at t=1 to data at t=eps using a :class:`Prediction`.

    Args:
        num_steps: number of time steps.
        time_grid: ``uniform`` in t, ``quadratic`` (denser near data) or ``logsnr`` (uniform in log-SNR).
    """

    def __init__(self, num_steps: int = 50, time_grid: str = "uniform") -> None:
        if int(num_steps) < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        if time_grid not in ("uniform", "quadratic", "logsnr"):
            raise ValueError(f"time_grid must be 'uniform', 'quadratic' or 'logsnr', got {time_grid!r}")
        self.num_steps = int(num_steps)
        self.time_grid = time_grid

    @property
    def nfe(self) -> int:
        """Network evaluations per sample path."""
        return self.num_steps

    def timesteps(self, sde: BaseSDE, device=None, dtype=torch.float32) -> torch.Tensor:
        """Decreasing grid ``(num_steps + 1,)`` from 1 to ``sde.eps``."""
        n = self.num_steps
        u = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
        if self.time_grid == "uniform":
            ts = 1.0 - (1.0 - sde.eps) * u
        elif self.time_grid == "quadratic":
            ts = sde.eps + (1.0 - sde.eps) * (1.0 - u) ** 2
        else:
            lo, hi = sde.log_snr(torch.tensor([1.0, sde.eps], dtype=torch.float64))
            ts = sde.t_from_log_snr(lo + (hi - lo) * u)
            ts[0], ts[-1] = 1.0, sde.eps
        return ts.to(device=device, dtype=dtype)

    def __call__(
        self,
        prediction,
        shape: Sequence[int],
        sde: BaseSDE,
        noise: BaseNoise,
        generator: Optional[torch.Generator] = None,
        device=None,
        dtype=torch.float32,
    ) -> torch.Tensor:
        """Draw from the prior and integrate to data: returns ``(batch, length, channels)``."""
        x = sde.prior_sampling(shape, noise, generator=generator, device=device, dtype=dtype)
        return self.sample(prediction, x, sde, noise, generator)

    @abstractmethod
    def sample(self, prediction, x: torch.Tensor, sde: BaseSDE, noise: BaseNoise, generator=None) -> torch.Tensor:
        """Integrate ``x`` drawn from the prior down to ``t = sde.eps``."""


for _kind, _base in {
    "preprocessing": BasePreprocessor,
    "architecture": BaseArchitecture,
    "noise": BaseNoise,
    "sde": BaseSDE,
    "objective": BaseObjective,
    "sampler": BaseSampler,
}.items():
    Registry.add_kind(_kind, _base)

#: the component kinds in the order a config lists them
COMPONENT_KINDS = ("preprocessing", "architecture", "noise", "sde", "objective", "sampler")
