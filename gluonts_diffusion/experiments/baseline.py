"""The ``baseline`` experiment: a GluonTS baseline on the split and budget of a config, scored by ``score()``.

``experiment: {type: baseline, params: {baseline: deepar}}`` beside the usual ``data``, ``training`` and
``evaluation`` sections. ``compare`` runs its baselines as experiments of this type, and the ``forecast``
experiment scores its ``evaluation.baselines`` through it, so a baseline is trained and scored one way.
Writes ``<run_dir>/metrics.json`` (and Lightning's checkpoints of trained baselines).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Optional

from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.data.datasets import ForecastData

from .base import BaseExperiment, ExperimentResult
from .baselines import baseline_config, baseline_size, baseline_training, check_baseline, train_baseline
from .forecast import load_experiment_data
from .scoring import score


@Registry.register("experiment", "baseline")
class BaselineExperiment(BaseExperiment):
    """Train (or build) GluonTS baseline ``experiment.params.baseline`` (univariate data: seasonal_naive,
    deepar, simple_feedforward, patch_tst; multivariate data: i_transformer) with the config's training budget on the split its ``data`` and
    ``evaluation.num_series`` describe, seeded by ``experiment.seed``, and score it like a diffusion model.

    ``data``: an already loaded split (the same one the config describes), to skip loading it again.
    """

    compatibility = "univariate or (i_transformer) multivariate data; experiment.params: {baseline: <name>}"

    def __init__(self, config, data: Optional[ForecastData] = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.baseline = str(self.params.get("baseline") or "")
        check_baseline(self.baseline)
        self.data: Optional[ForecastData] = data

    @classmethod
    def comparing(
        cls, name: str, config: Mapping[str, Any], seed: int, run_dir: Path, **kwargs: Any
    ) -> BaselineExperiment:
        """Baseline ``name`` on the split, budget and seed of experiment ``config``, writing into ``run_dir``."""
        return cls(baseline_config(config, name, seed), run_dir=run_dir, **kwargs)

    def setup(self) -> None:
        self.make_run_dir()
        if self.data is None:
            self.data = load_experiment_data(self.config, self.dataset_path)

    def train(self):
        from lightning.pytorch import seed_everything

        assert self.data is not None and self.run_dir is not None, "setup() first"
        seed_everything(self.seed, verbose=False)
        start = time.perf_counter()
        self.predictor = train_baseline(self.baseline, self.data, **baseline_training(self.config, self.run_dir))
        self.train_seconds = time.perf_counter() - start
        return self.predictor

    def evaluate(self) -> ExperimentResult:
        assert self.data is not None and self.run_dir is not None, "setup() and train() first"
        num_samples = int((self.config.get("evaluation") or {}).get("num_samples") or 100)
        metrics, self.forecasts, self.series, predict_seconds = score(
            self.predictor, self.data.test, num_samples, self.seed, self.data.target_dim, desc=self.name
        )
        nfe, num_parameters = baseline_size(self.baseline, self.predictor, self.data.prediction_length)
        result = ExperimentResult(
            name=self.name,
            dataset=self.data.name,
            metrics=metrics,
            train_seconds=self.train_seconds,
            predict_seconds=predict_seconds,
            num_series=len(self.data.test),
            num_samples=num_samples,
            nfe=nfe,
            num_parameters=num_parameters,
            seed=self.seed,
            experiment_type=self.registry_name,
            run_dir=str(self.run_dir),
            metrics_path=str(self.run_dir / "metrics.json"),
            config=self.config,
        )
        result.write()
        return result
