"""``ExperimentRunner``: one config -> the experiment ``experiment.type`` names (default ``forecast``).

``ExperimentRunner.from_config("configs/quickstart.yaml").run()`` trains, backtests against the
baselines and writes ``experiments/runs/<name>/<timestamp>/``; see :mod:`.forecast` and :mod:`.base`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from .base import DEBUG_OVERRIDES, BaseExperiment, ExperimentResult
from .config import ConfigSource, experiment_class, load_config

__all__ = ["DEBUG_OVERRIDES", "ExperimentResult", "ExperimentRunner"]


class ExperimentRunner:
    """Runs one experiment config (see :mod:`gluonts_diffusion.experiments.config`).

    Args:
        config: a config (path or dict), validated once, by the experiment it selects.
        dataset_path: folder of datasets (else the config's ``data.path``, else ``$GLUONTS_DIFFUSION_DATA``,
            else GluonTS's download).
        output_dir: where ``<name>/<timestamp>/`` is created (default ``experiments/runs``).
        debug: a fast smoke pass (1 epoch of 2 batches, 8 series, 20 samples) that prints the components.
        run_dir, epochs: see :class:`BaseExperiment`.
    """

    def __init__(
        self,
        config: ConfigSource,
        dataset_path: Optional[Union[str, Path]] = None,
        output_dir: Optional[Union[str, Path]] = None,
        debug: bool = False,
        **options: Any,
    ) -> None:
        config = load_config(config)
        self.experiment: BaseExperiment = experiment_class(config)(
            config, dataset_path=dataset_path, output_dir=output_dir, debug=debug, **options
        )
        self.config = self.experiment.config
        self.name = self.experiment.name
        self.dataset_path = self.experiment.dataset_path
        self.output_dir = self.experiment.output_dir
        self.debug = debug

    @classmethod
    def from_config(cls, source: ConfigSource, **kwargs) -> ExperimentRunner:
        return cls(source, **kwargs)

    def __getattr__(self, name: str):  # load_data, make_estimator, describe, ... of the experiment
        if name == "experiment":
            raise AttributeError(name)
        return getattr(self.experiment, name)

    def run(self) -> ExperimentResult:
        """Set up, train and evaluate; returns the :class:`ExperimentResult`."""
        return self.experiment.run()
