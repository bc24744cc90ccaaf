"""Training masks for conditional generation on any mask (CSDI, Tashiro et al. 2021, section 3.3).

One model learns to forecast and to impute when, at training time, some rows hide the whole window (a
forecast), others hide random points or one contiguous block of it and give the rest of the window to the
network as a condition; separately, random points of the history are hidden so that gaps in the history are
seen in training. Masks are float tensors of 1 (kept / given) and 0 (hidden).
"""

from typing import Optional, Sequence, Tuple

import torch

#: the window strategies, in the order of their probabilities
WINDOW_STRATEGIES = ("forecast", "random", "block")

#: default probabilities of the window strategies (half the rows stay plain forecasts)
DEFAULT_WINDOW_PROBABILITIES = (0.5, 0.25, 0.25)


def _uniform(shape: Sequence[int], generator: Optional[torch.Generator], device) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=device)


def window_known_mask(
    shape: Tuple[int, int, int],
    probabilities: Sequence[float] = DEFAULT_WINDOW_PROBABILITIES,
    generator: Optional[torch.Generator] = None,
    device=None,
) -> torch.Tensor:
    """Which entries of the window ``(batch, length, channels)`` are given as a condition -> same shape.

    Each row draws a strategy (``forecast``, ``random``, ``block``) with ``probabilities``:
    ``forecast`` gives nothing; ``random`` hides each entry with a rate drawn uniformly in (0, 1] for the row
    (CSDI's random strategy); ``block`` hides one contiguous run of 1..length steps in every channel.
    """
    if len(probabilities) != len(WINDOW_STRATEGIES) or min(probabilities) < 0 or sum(probabilities) <= 0:
        raise ValueError(f"probabilities must be {len(WINDOW_STRATEGIES)} numbers >= 0 with a positive sum")
    batch, length, channels = shape
    weights = torch.tensor(probabilities, dtype=torch.float32, device=device)
    choice = torch.multinomial(weights, batch, replacement=True, generator=generator)
    # random points: an entry is given when its draw is at least the row's hidden rate in (0, 1]
    rate = 1.0 - _uniform((batch, 1, 1), generator, device)
    random_known = _uniform(shape, generator, device) >= rate
    # block: steps [start, start + size) hidden in every channel
    size = 1 + (_uniform((batch, 1), generator, device) * length).long().clamp_max(length - 1)
    start = (_uniform((batch, 1), generator, device) * (length - size + 1)).long()
    steps = torch.arange(length, device=device).unsqueeze(0)
    block_known = ((steps < start) | (steps >= start + size)).unsqueeze(-1).expand(shape)
    known = torch.zeros(shape, dtype=torch.bool, device=device)
    known = torch.where((choice == 1).view(-1, 1, 1), random_known, known)
    known = torch.where((choice == 2).view(-1, 1, 1), block_known, known)
    return known.float()


def history_keep_mask(
    shape: Tuple[int, ...],
    row_probability: float = 0.5,
    max_rate: float = 0.5,
    generator: Optional[torch.Generator] = None,
    device=None,
) -> torch.Tensor:
    """Which history entries ``(batch, past_length[, channels])`` stay observed -> same shape: a share
    ``row_probability`` of the rows lose each entry with a rate drawn uniformly in [0, ``max_rate``)."""
    rate = _uniform((shape[0],), generator, device) * max_rate
    rate = rate * (_uniform((shape[0],), generator, device) < row_probability)
    rate = rate.view(-1, *([1] * (len(shape) - 1)))
    return (_uniform(shape, generator, device) >= rate).float()


def nearest_known(known: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each entry of ``known`` ``(batch, steps, channels)`` (1/0): its time index, and the index of the
    nearest known entry at or before it (-1: none) and at or after it (``steps``: none), each of ``known``'s
    shape."""
    steps = known.shape[1]
    index = torch.arange(steps, device=known.device).view(1, -1, 1).expand_as(known)
    is_known = known > 0
    before = torch.where(is_known, index, -1).cummax(1).values
    after = torch.where(is_known, index, steps).flip(1).cummin(1).values.flip(1)
    return index, before, after


def linear_fill(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of the known entries along time, ``(batch, steps, channels)`` -> same shape: each
    entry between two known ones on the line through them, after the last known one that value, before the first
    known one the first; a channel with nothing known is 0. Known entries keep their value."""
    steps = values.shape[1]
    index, before, after = nearest_known(known)
    left = torch.where(before >= 0, before, after).clamp(0, steps - 1)
    right = torch.where(after < steps, after, before).clamp(0, steps - 1)
    v_left, v_right = values.gather(1, left), values.gather(1, right)
    span = (right - left).clamp_min(1).to(values.dtype)
    filled = v_left + (index - left).clamp_min(0).to(values.dtype) / span * (v_right - v_left)
    filled = torch.where(right == left, v_left, filled)
    return torch.where((known > 0).any(1, keepdim=True), filled, torch.zeros_like(filled))


#: the least step of a random walk in a series' own scale (:func:`bridge_spread`): a flat history still spreads
MIN_STEP = 0.05


def mean_step(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """The mean absolute move between neighbouring known entries of ``values`` ``(batch, steps, channels)``, 1 in a
    channel with no such pair -> ``(batch, 1, channels)``: a random walk's step (:func:`bridge_spread`)."""
    pairs = known[:, 1:] * known[:, :-1]
    moves = ((values[:, 1:] - values[:, :-1]).abs() * pairs).sum(1, keepdim=True)
    return torch.where(pairs.sum(1, keepdim=True) > 0, moves / pairs.sum(1, keepdim=True).clamp_min(1), 1.0)


def bridge_spread(
    values: torch.Tensor, known: torch.Tensor, min_step: float = MIN_STEP, max_spread: float = 1.0
) -> torch.Tensor:
    """The spread of a random walk, in units of the known entries' mean absolute step (at least ``min_step``), at
    each entry of ``values`` ``(batch, steps, channels)`` given the nearest known entries, at most ``max_spread``
    (values are in a series' own scale: its spread is 1): ``step * sqrt(d1 d2 / (d1 + d2))``
    between two (a Brownian bridge, d1 and d2 steps away), ``step * sqrt(d)`` beyond the last or before the first
    (an extrapolation: a forecast); 1 at known entries and in a channel with nothing known -> same shape."""
    steps = values.shape[1]
    index, before, after = nearest_known(known)
    d1 = torch.where(before >= 0, index - before, 0).to(values.dtype)
    d2 = torch.where(after < steps, after - index, 0).to(values.dtype)
    both = (before >= 0) & (after < steps)
    variance = torch.where(both, d1 * d2 / (d1 + d2).clamp_min(1), d1 + d2)
    spread = (mean_step(values, known).clamp_min(min_step) * variance.sqrt()).clamp_max(max_spread)
    return torch.where(variance > 0, spread, torch.ones_like(spread))


def seasonal_fill(
    values: torch.Tensor, known: torch.Tensor, season: int, linear: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Each entry of ``values`` ``(batch, steps, channels)`` as a seasonal fill of the known ones: the known value
    ``k * season`` steps before it, else after it, for the smallest such ``k >= 1``; known entries keep their
    value; where no season holds a known value, the linear interpolation (``linear``, when the caller has it,
    else :func:`linear_fill`) -> same shape."""
    steps = values.shape[1]
    is_known = known > 0
    filled, found = torch.where(is_known, values, torch.zeros_like(values)), is_known.clone()
    for k in range(1, (steps - 1) // season + 1):
        lag = k * season
        for source, source_known, target in (
            (values[:, :-lag], is_known[:, :-lag], slice(lag, None)),  # k seasons before
            (values[:, lag:], is_known[:, lag:], slice(None, steps - lag)),  # k seasons after
        ):
            take = source_known & ~found[:, target]
            filled[:, target] = torch.where(take, source, filled[:, target])
            found[:, target] = found[:, target] | take
    return torch.where(found, filled, linear_fill(values, known) if linear is None else linear)
