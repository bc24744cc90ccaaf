"""Experiments: configs, data, the experiment registry kind, runs, leaderboards and searches.

Importing this package registers the ``experiment`` kind and the built-in ``forecast`` and ``baseline`` experiments.
"""

from . import baseline, forecast  # noqa: F401  (register "baseline" and "forecast")
from .base import BaseExperiment, ExperimentResult, experiment_class  # noqa: F401

__all__ = ["BaseExperiment", "ExperimentResult", "experiment_class"]
