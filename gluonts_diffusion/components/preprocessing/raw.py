"""``raw``: per-series normalization only; the model diffuses the normalized target window."""

from gluonts_diffusion.core.base import BasePreprocessor
from gluonts_diffusion.core.preprocessor import Scaling
from gluonts_diffusion.core.registry import Registry


@Registry.register("preprocessing", "raw")
class RawPreprocessor(BasePreprocessor):
    """Per-series scaling of the target, exactly invertible.

    Args:
        scaling: ``std`` (subtract the history's mean, divide by its std), ``mean`` (divide by the mean
            absolute value, as GluonTS's MeanScaler) or ``none``.
        min_scale: a spread below ``min_scale`` times the history's mean absolute level (relative, so any
            magnitude is normalised) falls back to that level; an all-zero history to 1.
    """

    def __init__(self, scaling: Scaling = "std", min_scale: float = 1e-5) -> None:
        super().__init__(scaling=scaling, min_scale=min_scale)
