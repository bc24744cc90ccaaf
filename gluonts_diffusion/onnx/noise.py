"""The noise an exported model consumes, drawn with numpy."""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

Seed = Union[None, int, np.random.Generator]


class NoiseSource:
    """Standard normal draws ``(num_draws, batch, num_samples, length, channels)`` for one call of an exported
    model (``model.json``'s ``noise``): draw 0 starts the prior, the others are the sampler's per-step draws.

    Args:
        num_draws: draws per forecast (1 for deterministic samplers).
        shape: ``(num_samples, length, channels)`` of one series' draw.
        seed: an int, a ``numpy.random.Generator`` (used as is) or None (fresh entropy).
    """

    def __init__(self, num_draws: int, shape: Sequence[int], seed: Seed = None) -> None:
        self.num_draws, self.shape = int(num_draws), tuple(int(n) for n in shape)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    @classmethod
    def from_metadata(cls, meta: dict, seed: Seed = None) -> NoiseSource:
        return cls(meta["noise"]["num_draws"], meta["noise"]["shape"], seed)

    def draw(self, batch: int) -> np.ndarray:
        """Noise for ``batch`` series, float32 ``(num_draws, batch, *shape)``."""
        return self.rng.standard_normal((self.num_draws, batch, *self.shape), dtype=np.float32)
