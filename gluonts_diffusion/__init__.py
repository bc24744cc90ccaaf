"""gluonts-diffusion: diffusion forecasters as pluggable GluonTS estimators."""
from .core import Registry

__version__ = "0.1.0"


def __getattr__(name):  # keep `import gluonts_diffusion` light: gluonts.torch loads on first use
    if name in ("DiffusionEstimator",):
        from .model.estimator import DiffusionEstimator

        return DiffusionEstimator
    raise AttributeError(name)


__all__ = ["DiffusionEstimator", "Registry", "__version__"]
