"""The built-in ``forecast`` experiment: train a ``DiffusionEstimator``, backtest it, compare with baselines.

Writes ``<output_dir>/<name>/<timestamp>/``: ``config.yaml``, ``predictor/``, ``metrics.json``,
``forecasts.png`` and ``tensorboard/`` (and ``wandb/`` when ``wandb.enabled``).
In a distributed run (``training.strategy: ddp``) every process trains; only rank 0 saves and evaluates.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.data.datasets import ForecastData, load_dataset
from gluonts_diffusion.data.validation import ValidationSplit
from gluonts_diffusion.model.config import config_value, estimator_arguments

from .base import BaseExperiment, ExperimentResult, last_checkpoint
from .config import calibration_method
from .plotting import plot_forecasts
from .scoring import VAL_PREFIX, base_metric, score
from .validation import calibrated, choices, holdout, kept_checkpoint, score_validation, scores_test

logger = logging.getLogger(__name__)


def flatten(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and other values become strings (for hyperparameter logs)."""
    out: Dict[str, Any] = {}
    for key, value in (config or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[name] = value
        else:
            out[name] = str(value)
    return out


def load_experiment_data(config: Dict[str, Any], dataset_path: Optional[Path]) -> ForecastData:
    """The train/test split a config describes (``data`` and ``evaluation.num_series``); shared by the
    diffusion runs and the baselines so that they see identical splits. ``evaluation.test: false`` leaves the
    test split unread (``test`` is empty)."""
    data = config.get("data") or {}
    evaluation = config.get("evaluation") or {}
    forecast_data = load_dataset(
        data["dataset"],
        dataset_path,
        prediction_length=config_value(config, "data", "prediction_length"),
        multivariate=bool(data.get("multivariate", False)),
        max_series=data.get("max_series"),
        with_test=scores_test(config),
    )
    if evaluation.get("num_series"):
        forecast_data.test = forecast_data.test[: int(evaluation["num_series"])]
    if data.get("freq"):
        forecast_data.freq = data["freq"]
    return forecast_data


@Registry.register("experiment", "forecast")
class ForecastExperiment(BaseExperiment):
    """Train the configured :class:`DiffusionEstimator`, backtest it on the test split (CRPS, sample CRPS,
    MASE, sMAPE, ND, NRMSE, interval coverage) beside ``evaluation.baselines``, save predictor, metrics,
    fan chart and logs. ``experiment.params`` is unused.

    With ``training.validation`` the model trains without the last window(s) of each training series, which
    choose the checkpoint, LR schedule and ensemble weights and are scored as the ``val_`` metrics (see
    :mod:`.validation`); ``evaluation.test: false`` skips the test split (and the baselines) altogether."""

    compatibility = "any diffusion config (univariate or multivariate)"

    data: ForecastData
    validation: Optional[ValidationSplit]
    estimator: Any
    predictor: Any
    loggers: List[Any]

    # ------------------------------------------------------------------ pieces
    def load_data(self) -> ForecastData:
        return load_experiment_data(self.config, self.dataset_path)

    def make_loggers(self, run_dir: Path) -> List[Any]:
        """TensorBoard (``logging.tensorboard``, default on) and Weights & Biases (``wandb.enabled``)."""
        loggers: List[Any] = []
        if (self.config.get("logging") or {}).get("tensorboard", True):
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(
                TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="", default_hp_metric=False)
            )
        wandb_cfg = self.config.get("wandb") or {}
        if wandb_cfg.get("enabled"):
            try:
                import wandb  # noqa: F401
                from lightning.pytorch.loggers import WandbLogger
            except ImportError as err:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "wandb.enabled needs the wandb package: pip install 'gluonts-diffusion[wandb]'"
                ) from err
            options = {"entity": wandb_cfg["entity"]} if wandb_cfg.get("entity") else {}
            if wandb_cfg.get("mode"):  # else $WANDB_MODE decides (wandb's default: online)
                options["mode"] = wandb_cfg["mode"]
            loggers.append(
                WandbLogger(
                    name=f"{self.name}-{run_dir.name}",
                    project=wandb_cfg.get("project") or "gluonts-diffusion",
                    save_dir=str(run_dir),
                    config=flatten(self.config),
                    **options,
                )
            )
        return loggers

    def make_estimator(self, data: ForecastData, run_dir: Path):
        """The configured estimator, for ``data``'s frequency, horizon and dimension, logging into ``run_dir``."""
        defaults: Dict[str, Any] = {"default_root_dir": str(run_dir), "enable_progress_bar": True}
        if "logger" in (config_value(self.config, "training", "trainer_kwargs") or {}):
            self.loggers = []
        else:
            self.loggers = self.make_loggers(run_dir)
            defaults["logger"] = self.loggers or False
        from lightning.pytorch.callbacks import ModelCheckpoint

        from gluonts_diffusion.model.estimator import DiffusionEstimator

        shape = {"freq": data.freq, "prediction_length": data.prediction_length, "target_dim": data.target_dim}
        arguments = estimator_arguments(self.config, trainer_defaults=defaults, **shape)
        trainer = arguments["trainer_kwargs"]  # the last epoch's checkpoint, for --resume
        last = ModelCheckpoint(dirpath=str(last_checkpoint(run_dir).parent), save_last=True, save_top_k=0)
        trainer["callbacks"] = [*trainer.get("callbacks", []), last]
        return DiffusionEstimator(**arguments)

    def describe(self, estimator) -> str:
        """The resolved components with their full parameters (defaults filled in)."""
        lines = []
        for kind, entry in estimator.components.items():
            params = dict(Registry.parameters(kind, entry["name"]))
            params.update(entry["params"])
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            lines.append(f"  {kind:<13} {entry['name']}({shown})")
        return "components:\n" + "\n".join(lines)

    # ------------------------------------------------------------------ steps
    def setup(self) -> None:
        import yaml

        run_dir = self.make_run_dir()
        if self.rank == 0:
            (run_dir / "config.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.data = self.load_data()
        self.validation = holdout(self.config, self.data)
        self.estimator = self.make_estimator(self.data, run_dir)
        for lg in self.loggers:
            lg.log_hyperparams(flatten(self.config))
        if self.debug and self.rank == 0:
            print(self.describe(self.estimator))

    def train(self):
        from lightning.pytorch import seed_everything

        seed_everything(self.seed, verbose=False)
        start = time.perf_counter()
        train, validation = (
            (self.data.train, None) if self.validation is None else (self.validation.train, self.validation.validation)
        )
        output = self.estimator.train_model(train, validation_data=validation, ckpt_path=self.resume_checkpoint())
        self.train_seconds = time.perf_counter() - start
        self.trainer_rank = int(getattr(output.trainer, "global_rank", 0))
        self.checkpoint = kept_checkpoint(output.trainer)
        self.predictor = output.predictor
        if self.trainer_rank == 0:
            self.predictor = calibrated(self.predictor, self.config, self.validation, self.seed)
            predictor_dir = self.run_dir / "predictor"
            predictor_dir.mkdir(exist_ok=True)
            self.predictor.serialize(predictor_dir)
        return self.predictor

    def evaluate(self) -> ExperimentResult:
        from gluonts_diffusion.model.resampling import count_parameters

        model = self.predictor.prediction_net.model
        test = scores_test(self.config)
        result = ExperimentResult(
            name=self.name,
            dataset=self.data.name,
            metrics={},
            train_seconds=self.train_seconds,
            nfe=int(model.sampler.nfe),
            num_parameters=count_parameters(model),
            seed=self.seed,
            experiment_type=self.registry_name or "forecast",
            rank=self.trainer_rank,
            run_dir=str(self.run_dir),
            config=self.config,
            splits={**choices(self.validation, test, calibration_method(self.config)), **self.checkpoint},
        )
        if self.trainer_rank != 0:  # the other processes of a distributed run stop after training
            self.finish_loggers()
            return result
        evaluation = self.config.get("evaluation") or {}
        self.score(result, int(evaluation.get("num_samples", 100)), evaluation.get("num_series"), test)
        result.plot_path = str(
            plot_forecasts(
                self.forecasts,
                self.series,
                self.run_dir / "forecasts.png",
                num_series=int(evaluation.get("plot_series", 4)),
                title=self.name,
            )
        )
        result.predictor_path = str(self.run_dir / "predictor")
        result.log_dir = self.log_dir()
        result.metrics_path = str(self.run_dir / "metrics.json")
        result.write()
        self.log_results(result)
        if test:
            self.score_baselines(result, evaluation.get("baselines", ["seasonal_naive"]) or [])
        self.finish_loggers()
        return result

    def score(self, result: ExperimentResult, num_samples: int, num_series: Optional[int], test: bool) -> None:
        """``result.metrics``: the test split's (when ``test``) and, with validation windows, the ``val_`` ones;
        ``self.forecasts`` / ``self.series``: the test forecasts, else the validation ones."""
        result.num_samples, target_dim = num_samples, self.data.target_dim
        val: Dict[str, float] = {}
        if self.validation is not None:
            val, self.forecasts, self.series, seconds, count = score_validation(
                self.predictor, self.validation, num_samples, self.seed, target_dim, num_series
            )
            result.predict_seconds, result.num_series = seconds, count
        if test:
            result.metrics, self.forecasts, self.series, result.predict_seconds = score(
                self.predictor, self.data.test, num_samples, self.seed, target_dim
            )
            result.num_series = len(self.data.test)
        result.metrics.update(val)

    def score_baselines(self, result: ExperimentResult, names) -> None:
        """Each baseline as a ``baseline`` experiment on this run's split, budget and seed (under
        ``baselines/<name>/``); its metrics go into ``result.baselines``, written after each one."""
        from .baseline import BaselineExperiment

        for name in names:
            try:
                baseline = BaselineExperiment.comparing(
                    name,
                    self.config,
                    self.seed,
                    self.run_dir / "baselines" / name,
                    data=self.data,
                    dataset_path=self.dataset_path,
                )
                result.baselines[name] = baseline.run().metrics
            except ValueError as err:
                logger.warning("baseline %s skipped: %s", name, err)
            result.write()

    # ------------------------------------------------------------------ logging
    def log_dir(self) -> Optional[str]:
        """Where the first logger writes (``tensorboard/`` or ``wandb/``), None without loggers."""
        for lg in self.loggers:
            name = type(lg).__name__
            if name == "TensorBoardLogger":
                return str(self.run_dir / "tensorboard")
            if name == "WandbLogger":
                return str(self.run_dir / "wandb")
        return None

    def log_results(self, result: ExperimentResult) -> None:
        """Final metrics into every logger (TensorBoard scalars ``test/...`` and ``validation/...``, W&B summary)."""
        import math

        scalars = {
            f"validation/{base_metric(k)}" if k.startswith(VAL_PREFIX) else f"test/{k}": v
            for k, v in result.metrics.items()
            if isinstance(v, float)
            and math.isfinite(v)
            and not k.startswith(("QuantileLoss", "Coverage", f"{VAL_PREFIX}QuantileLoss", f"{VAL_PREFIX}Coverage"))
        }
        scalars["test/train_seconds"] = result.train_seconds
        scalars["test/sample_seconds_per_series"] = result.sample_seconds_per_series
        for lg in self.loggers:
            try:
                lg.log_metrics(scalars)
                lg.save()
            except Exception as err:  # a logger failing must not lose the run
                logger.warning("logger %s failed: %s", type(lg).__name__, err)

    def finish_loggers(self) -> None:
        for lg in self.loggers:
            try:
                lg.finalize("success")
                if type(lg).__name__ == "WandbLogger":
                    lg.experiment.finish()
            except Exception as err:
                logger.warning("logger %s failed to close: %s", type(lg).__name__, err)
