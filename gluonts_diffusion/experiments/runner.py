"""``ExperimentRunner``: one config -> train, backtest against baselines, save everything."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from .config import estimator_kwargs, load_config, validate_config
from .data import ForecastData, load_dataset, resolve_data_path
from .evaluation import REPORTED_METRICS, backtest, sample_crps

logger = logging.getLogger(__name__)

#: what ``--debug`` shrinks a run to
DEBUG_OVERRIDES = {"num_epochs": 1, "num_batches_per_epoch": 2, "num_series": 8, "num_samples": 20}


@dataclass
class ExperimentResult:
    """What one run produced: metrics, timings and the paths of everything saved."""

    name: str
    dataset: str
    metrics: Dict[str, float]
    baselines: Dict[str, Dict[str, float]] = field(default_factory=dict)
    train_seconds: float = 0.0
    predict_seconds: float = 0.0
    num_series: int = 0
    num_samples: int = 0
    nfe: int = 0
    num_parameters: int = 0
    run_dir: Optional[str] = None
    predictor_path: Optional[str] = None
    metrics_path: Optional[str] = None
    plot_path: Optional[str] = None
    log_dir: Optional[str] = None
    config: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """Markdown table of the reported metrics, this model beside its baselines."""
        rows = {self.name: self.metrics, **self.baselines}
        head = "| model | " + " | ".join(REPORTED_METRICS) + " |"
        lines = [head, "|" + "---|" * (len(REPORTED_METRICS) + 1)]
        for model, metrics in rows.items():
            lines.append(f"| {model} | " + " | ".join(f"{metrics.get(m, float('nan')):.4f}" for m in REPORTED_METRICS) + " |")
        return "\n".join(lines)


class ExperimentRunner:
    """Runs one experiment config (see :mod:`gluonts_diffusion.experiments.config`).

    Args:
        config: a validated config dict.
        dataset_path: folder of datasets (else the config's ``data.path``, else ``$GLUONTS_DIFFUSION_DATA``,
            else GluonTS's download).
        output_dir: where ``runs/<name>/<timestamp>/`` is created (default ``experiments/runs``).
        debug: a fast smoke pass (1 epoch of 2 batches, 8 series, 20 samples) that prints the components.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        dataset_path: Optional[Union[str, Path]] = None,
        output_dir: Optional[Union[str, Path]] = None,
        debug: bool = False,
    ) -> None:
        self.config = validate_config(config)
        data = self.config.get("data") or {}
        self.dataset_path = resolve_data_path(dataset_path, data.get("path"))
        logging_cfg = self.config.get("logging") or {}
        self.output_dir = Path(output_dir or logging_cfg.get("output_dir") or "experiments/runs")
        self.debug = debug
        self.name = (self.config.get("experiment") or {}).get("name") or "experiment"

    @classmethod
    def from_config(cls, source: Union[str, Path, Mapping[str, Any]], **kwargs) -> "ExperimentRunner":
        return cls(load_config(source), **kwargs)

    # ------------------------------------------------------------------ steps
    def load_data(self) -> ForecastData:
        data = self.config.get("data") or {}
        evaluation = self.config.get("evaluation") or {}
        forecast_data = load_dataset(
            data["dataset"],
            self.dataset_path,
            prediction_length=data.get("predict_len"),
            multivariate=bool(data.get("multivariate", False)),
            max_series=data.get("max_series"),
        )
        num_series = DEBUG_OVERRIDES["num_series"] if self.debug else evaluation.get("num_series")
        if num_series:
            forecast_data.test = forecast_data.test[: int(num_series)]
        if data.get("freq"):
            forecast_data.freq = data["freq"]
        return forecast_data

    def make_estimator(self, data: ForecastData, run_dir: Path):
        from gluonts_diffusion.model.estimator import DiffusionEstimator

        kwargs = estimator_kwargs(self.config, data.freq, data.prediction_length, data.target_dim)
        trainer = kwargs["trainer_kwargs"]
        trainer.setdefault("default_root_dir", str(run_dir))
        trainer.setdefault("enable_progress_bar", True)
        if (self.config.get("logging") or {}).get("tensorboard", True):
            from lightning.pytorch.loggers import TensorBoardLogger

            trainer.setdefault("logger", TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=""))
        if self.debug:
            trainer["max_epochs"] = DEBUG_OVERRIDES["num_epochs"]
            kwargs["num_batches_per_epoch"] = DEBUG_OVERRIDES["num_batches_per_epoch"]
        return DiffusionEstimator(**kwargs)

    def describe(self, estimator) -> str:
        """The resolved components with their full parameters (defaults filled in)."""
        from gluonts_diffusion.core.registry import Registry

        lines = []
        for kind, entry in estimator.components.items():
            params = {k: v for k, v in Registry.parameters(kind, entry["name"]).items() if k not in ("length", "channels", "context_length", "context_dim", "future_dim", "prediction_length")}
            params.update(entry["params"])
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            lines.append(f"  {kind:<13} {entry['name']}({shown})")
        return "components:\n" + "\n".join(lines)

    # ------------------------------------------------------------------ run
    def run(self) -> ExperimentResult:
        """Train, backtest, compare with the baselines and write the run folder. Returns the result."""
        import torch

        from gluonts_diffusion.model.resampling import count_parameters

        from .baselines import train_baseline
        from .plotting import plot_forecasts

        seed = int((self.config.get("experiment") or {}).get("seed", 0))
        evaluation = self.config.get("evaluation") or {}
        num_samples = DEBUG_OVERRIDES["num_samples"] if self.debug else int(evaluation.get("num_samples", 100))
        run_dir = self.output_dir / self.name / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(__import__("yaml").safe_dump(self.config, sort_keys=False))

        data = self.load_data()
        estimator = self.make_estimator(data, run_dir)
        if self.debug:
            print(self.describe(estimator))
        torch.manual_seed(seed)
        start = time.perf_counter()
        predictor = estimator.train(data.train)
        train_seconds = time.perf_counter() - start
        predictor_dir = run_dir / "predictor"
        predictor_dir.mkdir()
        predictor.serialize(predictor_dir)

        metrics, forecasts, series, predict_seconds = backtest(
            predictor, data.test, num_samples=num_samples, seed=seed, target_dim=data.target_dim
        )
        if data.target_dim == 1:
            metrics["sample_CRPS"] = sample_crps(forecasts, series)
        plot_path = plot_forecasts(
            forecasts, series, run_dir / "forecasts.png", num_series=int(evaluation.get("plot_series", 4)), title=self.name
        )
        model = predictor.prediction_net.model
        result = ExperimentResult(
            name=self.name,
            dataset=data.name,
            metrics=metrics,
            train_seconds=train_seconds,
            predict_seconds=predict_seconds,
            num_series=len(data.test),
            num_samples=num_samples,
            nfe=int(model.sampler.nfe),
            num_parameters=count_parameters(model),
            run_dir=str(run_dir),
            predictor_path=str(predictor_dir),
            plot_path=str(plot_path),
            log_dir=str(run_dir / "tensorboard"),
            config=self.config,
        )
        result.metrics_path = str(run_dir / "metrics.json")
        self._write(result)
        for name in evaluation.get("baselines", ["seasonal_naive"]) or []:
            try:
                baseline = train_baseline(
                    name,
                    data,
                    trainer_kwargs={"max_epochs": estimator.trainer_kwargs.get("max_epochs", 10), "default_root_dir": str(run_dir / "baselines"), "enable_progress_bar": False},
                    context_length=estimator.context_length,
                    num_batches_per_epoch=estimator.num_batches_per_epoch,
                )
                result.baselines[name] = backtest(baseline, data.test, num_samples=num_samples, seed=seed)[0]
            except ValueError as err:
                logger.warning("baseline %s skipped: %s", name, err)
            self._write(result)
        return result

    @staticmethod
    def _write(result: ExperimentResult) -> None:
        Path(result.metrics_path).write_text(json.dumps(result.to_dict(), indent=2, default=str))
