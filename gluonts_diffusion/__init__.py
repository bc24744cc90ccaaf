"""gluonts-diffusion: diffusion forecasters as pluggable GluonTS estimators."""

from .core import Registry

__version__ = "0.1.0"

#: names of gluonts_diffusion.data re-exported here (numpy/torch arrays <-> GluonTS datasets)
_DATA_NAMES = ("from_arrays", "from_history_future", "to_arrays", "forecast_arrays", "HistoryFutureData")


def __getattr__(name):  # keep `import gluonts_diffusion` light: gluonts.torch loads on first use
    if name == "DiffusionEstimator":
        from .model.estimator import DiffusionEstimator

        return DiffusionEstimator
    if name == "with_sampler":
        from .model.resampling import with_sampler

        return with_sampler
    if name == "ExperimentRunner":
        from .experiments.runner import ExperimentRunner

        return ExperimentRunner
    if name in _DATA_NAMES:
        from . import data

        return getattr(data, name)
    raise AttributeError(name)


__all__ = ["DiffusionEstimator", "ExperimentRunner", "Registry", "with_sampler", "__version__", *_DATA_NAMES]
