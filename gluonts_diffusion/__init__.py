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
    from .core import Registry as Registry  # the registry, at the package root
    from .core.discovery import load_entry_points
    from .experiments import base  # noqa: F401  (declares the experiment kind, registers the built-in experiments)

    load_entry_points()

#: public names loaded on first use (keeps `import gluonts_diffusion` light: gluonts.torch loads when needed),
#: each with the module defining it
_LAZY = {
    "Registry": "core",  # imported above when torch is there
    "DiffusionEstimator": "model.estimator",
    "with_sampler": "model.resampling",
    "distill": "model.distillation",  # the CLI module gluonts_diffusion.distill, once imported, is callable as it
    "impute": "model.imputation",  # the same for gluonts_diffusion.impute
    "load_predictor": "model.predictor",
    "calibrate": "model.calibration",
    "ExperimentRunner": "experiments.runner",
    **{name: "data" for name in ("from_arrays", "from_history_future", "to_arrays", "forecast_arrays")},
    "HistoryFutureData": "data",
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(name)
    if not HAS_TORCH:
        raise ImportError(f"gluonts_diffusion.{name} needs torch; without it only gluonts_diffusion.onnx works")
    import importlib

    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


__all__ = ["__version__", *_LAZY]
