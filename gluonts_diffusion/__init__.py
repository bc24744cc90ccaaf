"""gluonts-diffusion: diffusion forecasters as pluggable GluonTS estimators.

Importing anything under ``gluonts_diffusion`` runs this module first, so the registry is complete and the
same whatever is imported: every kind (the six component kinds and ``experiment``), every built-in
component and experiment type, and the components other packages declare under the
``gluonts_diffusion.components`` entry-point group. A built-in that fails to import raises here.

Where torch is not installed only the torch-free part imports (``gluonts_diffusion.onnx``: forecasting with
an exported model); the registry and the estimators then raise ``ImportError`` on use.
"""

from .version import __version__

try:
    import torch  # noqa: F401
except ImportError:  # a torch-free install: only gluonts_diffusion.onnx works
    HAS_TORCH = False
else:
    HAS_TORCH = True

if HAS_TORCH:
    from . import components  # noqa: F401  (registers the built-in components)
    from .core import Registry
    from .core.discovery import load_entry_points
    from .experiments import base  # noqa: F401  (declares the experiment kind, registers the built-in experiments)

    load_entry_points()

#: names of gluonts_diffusion.data re-exported here (numpy/torch arrays <-> GluonTS datasets)
_DATA_NAMES = ("from_arrays", "from_history_future", "to_arrays", "forecast_arrays", "HistoryFutureData")


def __getattr__(name):  # keep `import gluonts_diffusion` light: gluonts.torch loads on first use
    if not HAS_TORCH and name in __all__:
        raise ImportError(f"gluonts_diffusion.{name} needs torch; without it only gluonts_diffusion.onnx works")
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
