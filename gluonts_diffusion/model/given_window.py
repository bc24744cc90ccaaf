"""The given window of imputation (CSDI, Tashiro et al. 2021): window values given to the model as a
condition, how the network sees them, and what the window is diffused relative to.

Shapes: windows ``(batch, prediction_length, C)``; the context ``(batch, context_length, C)``.
"""

from typing import Callable, Dict, Optional, Tuple, Union

import torch

from gluonts_diffusion.core.masks import MIN_STEP, bridge_spread, linear_fill, mean_step, seasonal_fill

#: what an imputation model diffuses the window relative to (``DiffusionModel``'s ``imputation_anchor``)
IMPUTATION_ANCHORS = ("linear", "bridge", "none")

#: the anchor of ``imputation=True``
DEFAULT_IMPUTATION_ANCHOR = "bridge"


def check_anchor(anchor: str) -> str:
    """``anchor`` once it is one of :data:`IMPUTATION_ANCHORS` (else ``ValueError`` listing them)."""
    if anchor not in IMPUTATION_ANCHORS:
        raise ValueError(f"imputation_anchor must be one of {IMPUTATION_ANCHORS}, got {anchor!r}")
    return anchor


#: what a forecasting model (no imputation) diffuses the window relative to (``DiffusionModel``'s
#: ``forecast_anchor``): ``none`` the scaled window itself, ``linear`` its change from the history's last observed
#: value, ``bridge`` that change in units of a random walk's spread from there
FORECAST_ANCHORS = IMPUTATION_ANCHORS


def check_forecast_anchor(anchor: str, imputation: bool) -> str:
    """``anchor`` once it is one of :data:`FORECAST_ANCHORS` and, unless ``none``, the model does not impute
    (an imputation model's anchor is its ``imputation_anchor``); else ``ValueError`` naming the option."""
    if anchor not in FORECAST_ANCHORS:
        raise ValueError(f"forecast_anchor must be one of {FORECAST_ANCHORS}, got {anchor!r}")
    if anchor != "none" and imputation:
        raise ValueError(
            f"forecast_anchor {anchor!r} is for forecasting models; an imputation model's anchor is given by "
            "imputation (true = bridge, linear or none)"
        )
    return anchor


def forecast_anchor_state(
    scaled_context: torch.Tensor, observed_context: torch.Tensor, length: int, anchor: str
) -> Dict[str, torch.Tensor]:
    """What ``anchor`` adds to the scaling state of a forecast: :func:`window_features`' anchor with nothing given
    in the window, computed without ``cummax`` (so it exports to ONNX). ``linear`` and ``bridge``: ``"anchor"``, the
    last observed scaled value (0 in a channel with nothing observed); ``bridge`` also ``"spread"``, a random walk's
    ``step * sqrt(d)`` at ``d`` steps after that value, at most 1, with ``step`` the context's
    :func:`~gluonts_diffusion.core.masks.mean_step` (at least :data:`~gluonts_diffusion.core.masks.MIN_STEP`); ``none``: ``{}``. Tensors
    (batch, ``length``, C)."""
    if anchor == "none":
        return {}
    steps = scaled_context.shape[1]
    index = torch.arange(steps, device=scaled_context.device).view(1, -1, 1)
    last = torch.where(observed_context > 0, index, -1).amax(1, keepdim=True)  # (batch, 1, C); -1: none observed
    value = torch.where(last >= 0, scaled_context.gather(1, last.clamp_min(0)), 0.0)
    anchored = {"anchor": value.expand(-1, length, -1)}
    if anchor == "bridge":
        step = mean_step(scaled_context, observed_context).clamp_min(MIN_STEP)
        ahead = torch.arange(steps, steps + length, device=scaled_context.device).view(1, -1, 1) - last
        spread = (step * ahead.to(step.dtype).sqrt()).clamp_max(1.0)
        anchored["spread"] = torch.where(last >= 0, spread, torch.ones_like(spread))
    return anchored


def check_season(season: Optional[int]) -> Optional[int]:
    """``imputation_season`` once it is None or an integer >= 2 (else ``ValueError`` naming it)."""
    if season is not None and (isinstance(season, bool) or not isinstance(season, int) or season < 2):
        raise ValueError(f"imputation_season must be None or an integer >= 2, got {season!r}")
    return season


def imputation_option(value: Union[bool, str]) -> Optional[str]:
    """The estimator's ``imputation`` option -> the anchor an imputation model diffuses relative to, or None
    (imputation off): ``False``, ``True`` (:data:`DEFAULT_IMPUTATION_ANCHOR`) or one of
    :data:`IMPUTATION_ANCHORS`."""
    if isinstance(value, bool):
        return DEFAULT_IMPUTATION_ANCHOR if value else None
    if value in IMPUTATION_ANCHORS:
        return str(value)
    raise ValueError(f"imputation must be true, false or one of {', '.join(IMPUTATION_ANCHORS)}, got {value!r}")


def hide_given(x: torch.Tensor, given: Optional[torch.Tensor]) -> torch.Tensor:
    """``x`` with 0 at the window entries ``given`` as a condition (1/0, same shape; ``None``: none): the network's
    view of a noisy window in imputation, as CSDI's, so what a sampler does at given entries cannot matter."""
    return x if given is None else torch.where(given > 0, torch.zeros_like(x), x)


def given_window(
    future_target: Optional[torch.Tensor], future_known: Optional[torch.Tensor], like: torch.Tensor, length: int
) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """The given window values (0 elsewhere, whatever was there: NaN included) and their mask, each
    (batch, ``length``, C) in ``like``'s (batch, ..., C) dtype; None when nothing is given."""
    if future_known is None:
        return None
    if future_target is None:
        raise ValueError("future_known marks entries of future_target: give future_target too")
    known = future_known.to(like.dtype).reshape(like.shape[0], length, like.shape[2])
    return torch.where(known > 0, future_target.reshape(known.shape).to(like.dtype), 0.0), known


def window_features(
    scaled_context: torch.Tensor,
    observed_context: torch.Tensor,
    window: Optional[Tuple[torch.Tensor, torch.Tensor]],
    length: int,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    anchor: str = "none",
    season: Optional[int] = None,
) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """The imputation features of a window ``(batch, length, 3 C)``: the given values in the scale of the
    history (``normalize``), their mask, and the linear interpolation of the observed context and the given
    values (:func:`~gluonts_diffusion.core.masks.linear_fill`; the last observed value on, in a forecast); with a
    ``season``, a fourth feature per channel: the seasonal fill of the same values
    (:func:`~gluonts_diffusion.core.masks.seasonal_fill`). Also returns what ``anchor`` adds to the scaling state
    (:func:`to_anchor`): ``linear`` the interpolation as ``"anchor"``, ``bridge`` with a random walk's spread around
    it (:func:`~gluonts_diffusion.core.masks.bridge_spread`) as ``"spread"``, ``none`` nothing. ``window``
    ``None``: nothing given (a forecast)."""
    if window is None:
        window = (scaled_context.new_zeros(scaled_context.shape[0], length, scaled_context.shape[2]),) * 2
    values = torch.where(window[1] > 0, normalize(window[0]), 0.0)
    series, known = torch.cat([scaled_context, values], 1), torch.cat([observed_context, window[1]], 1)
    linear = linear_fill(series, known)
    fill = linear[:, -length:]
    features = [values, window[1], fill]
    if season:
        features.append(seasonal_fill(series, known, season, linear)[:, -length:])
    anchored = {} if anchor == "none" else {"anchor": fill}
    if anchor == "bridge":
        anchored["spread"] = bridge_spread(series, known)[:, -length:]
    return torch.cat(features, dim=-1), anchored


def to_anchor(x: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
    """A scaled window ``x`` in the diffused coordinates: less the scaling ``state``'s imputation ``anchor``, in
    units of its ``spread`` (each absent: 0 and 1, the window itself)."""
    return (x - state.get("anchor", 0.0)) / state.get("spread", 1.0)


def from_anchor(z: torch.Tensor, state: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Inverse of :func:`to_anchor`."""
    return z * state.get("spread", 1.0) + state.get("anchor", 0.0)
