"""Experiments: configs, data, the experiment registry kind, runs, leaderboards and searches.

Importing this package registers the ``experiment`` kind and the built-in ``forecast`` experiment.
"""

from . import forecast  # noqa: F401  (registers "forecast")
from .base import BaseExperiment, ExperimentResult, experiment_class  # noqa: F401

__all__ = ["BaseExperiment", "ExperimentResult", "experiment_class"]
