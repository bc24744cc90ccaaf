"""``BaseExperiment``: what one experiment does, in three steps, and the ``experiment`` registry kind.

An experiment type is chosen by the config key ``experiment.type`` (default ``forecast``)::

    from gluonts_diffusion.core.registry import Registry
    from gluonts_diffusion.experiments.base import BaseExperiment

    @Registry.register("experiment", "my_experiment")
    class MyExperiment(BaseExperiment):
        def setup(self): ...        # data, model, run folder
        def train(self): ...        # fit the model; returns the trained predictor
        def evaluate(self): ...     # returns an ExperimentResult

``BaseExperiment.run()`` calls the three in order. The built-in ``forecast`` experiment
(:mod:`gluonts_diffusion.experiments.forecast`) is what ``python -m gluonts_diffusion.run`` does.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from gluonts_diffusion.core.registry import Registry
from gluonts_diffusion.data.datasets import resolve_data_path
from gluonts_diffusion.model.config import written_key

from .config import ConfigError, check_config_dataset, experiment_class, load_config, validate_config

__all__ = ["BaseExperiment", "ExperimentResult", "apply_overrides", "experiment_class", "in_process", "last_checkpoint"]

from .scoring import (  # reported in tables, in order (defined with every metric in scoring.py)
    TABLE_METRICS,
    VAL_PREFIX,
    base_metric,
)

#: what ``--debug`` shrinks a run to
DEBUG_OVERRIDES = {"max_epochs": 1, "num_batches_per_epoch": 2, "num_series": 8, "num_samples": 20}

#: folders of a run that hold only logs: a failed run with nothing else (and no checkpoint) is removed
LOG_DIRS = ("tensorboard", "wandb", "lightning_logs")

#: environment variable through which the processes of one distributed run share their run folder
RUN_DIR_ENV = "GLUONTS_DIFFUSION_RUN_DIR"


def last_checkpoint(run_dir: Union[str, Path]) -> Path:
    """The checkpoint a run writes after every epoch (Lightning's ``save_last``), from which ``resume`` continues."""
    return Path(run_dir) / "checkpoints" / "last.ckpt"


def global_rank() -> int:
    """This process's rank in a distributed run (0 outside one), from the launchers' environment variables."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value not in (None, ""):
            try:
                rank = int(value)
            except ValueError:
                continue
            if name == "LOCAL_RANK":
                rank += int(os.environ.get("NODE_RANK", 0) or 0) * int(os.environ.get("LOCAL_WORLD_SIZE", 1) or 1)
            return rank
    return 0


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
    nfe: Optional[int] = 0
    num_parameters: int = 0
    seed: int = 0
    experiment_type: str = "forecast"
    rank: int = 0
    run_dir: Optional[str] = None
    predictor_path: Optional[str] = None
    metrics_path: Optional[str] = None
    plot_path: Optional[str] = None
    log_dir: Optional[str] = None
    config: Dict[str, Any] = field(default_factory=dict)
    #: which split chose what (checkpoint, LR schedule, ensemble weights) and scored what (see ``validation.choices``)
    splits: Dict[str, Any] = field(default_factory=dict)

    @property
    def sample_seconds_per_series(self) -> float:
        return self.predict_seconds / max(self.num_series, 1)

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["sample_seconds_per_series"] = self.sample_seconds_per_series
        return out

    def write(self) -> None:
        """Write :meth:`to_dict` as JSON to ``metrics_path`` (the run's ``metrics.json``)."""
        Path(str(self.metrics_path)).write_text(json.dumps(self.to_dict(), indent=2, default=str))

    def table(self) -> str:
        """Markdown table of the reported metrics, this model beside its baselines (and, with validation
        windows, its ``val_`` metrics as a row of their own)."""
        validation = {base_metric(k): v for k, v in self.metrics.items() if k.startswith(VAL_PREFIX)}
        rows = {self.name: self.metrics, **({f"{self.name} (validation windows)": validation} if validation else {})}
        rows.update(self.baselines)
        head = "| model | " + " | ".join(TABLE_METRICS) + " |"
        lines = [head, "|" + "---|" * (len(TABLE_METRICS) + 1)]
        for model, metrics in rows.items():
            lines.append(
                f"| {model} | " + " | ".join(f"{metrics.get(m, float('nan')):.4f}" for m in TABLE_METRICS) + " |"
            )
        return "\n".join(lines)


def apply_overrides(
    config: Mapping[str, Any], debug: bool = False, epochs: Optional[int] = None, seed: Optional[int] = None
) -> Dict[str, Any]:
    """A copy of ``config`` with ``--debug`` (1 epoch of 2 batches, 8 series, 20 samples), ``--epochs`` and
    ``seed`` written into it (under the key the config already uses, canonical or alias), so the saved
    ``config.yaml`` is what actually ran."""
    config = copy.deepcopy(dict(config))
    training = dict(config.get("training") or {})
    epochs_key = written_key(training, "training", "max_epochs")
    evaluation = dict(config.get("evaluation") or {})
    experiment = dict(config.get("experiment") or {})
    if debug:
        training[epochs_key] = DEBUG_OVERRIDES["max_epochs"]
        training["num_batches_per_epoch"] = DEBUG_OVERRIDES["num_batches_per_epoch"]
        evaluation["num_samples"] = DEBUG_OVERRIDES["num_samples"]
        evaluation["num_series"] = min(
            int(evaluation.get("num_series") or DEBUG_OVERRIDES["num_series"]), DEBUG_OVERRIDES["num_series"]
        )
    if epochs is not None:
        training[epochs_key] = int(epochs)
    if seed is not None:
        experiment["seed"] = int(seed)
    for name, section in (("training", training), ("evaluation", evaluation), ("experiment", experiment)):
        if section or name in config:
            config[name] = section
    return config


def in_process(config: Dict[str, Any], where: str) -> Dict[str, Any]:
    """Make ``config`` train in this process, for the tools that run many configs one after the other
    (compare, search): Lightning's ``ddp`` launcher re-runs the whole command line for every extra
    process, so it is refused there (use ``python -m gluonts_diffusion.run`` for distributed training),
    and ``training.devices`` defaults to 1 so a multi-GPU machine does not pick DDP by itself."""
    if config.get("training") is None:
        config["training"] = {}
    training = config["training"]
    strategy = training.get("strategy")
    name = strategy.get("type", "ddp") if isinstance(strategy, Mapping) else strategy
    if (
        isinstance(name, str)
        and name.startswith("ddp")
        and not name.startswith(("ddp_spawn", "ddp_fork", "ddp_notebook"))
    ):
        if training.get("devices", 1) not in (1, "1") or int(training.get("num_nodes") or 1) > 1:
            raise ValueError(
                f"{where}: training.strategy {name!r} with several processes re-launches the command for each process; "
                "run distributed configs with python -m gluonts_diffusion.run"
            )
    training.setdefault("devices", 1)
    return config


class BaseExperiment:
    """One experiment: ``setup()`` -> ``train()`` -> ``evaluate()`` (``run()`` does all three).

    Args:
        config: an experiment config (path or dict); validated here, once per run.
        dataset_path: folder of datasets (else ``data.path``, else ``$GLUONTS_DIFFUSION_DATA``, else download).
        output_dir: where ``<name>/<timestamp>/`` is created (default ``logging.output_dir`` or ``experiments/runs``).
        debug: a fast smoke pass (1 epoch of 2 batches, 8 series, 20 samples) that prints the components.
        run_dir: write into exactly this folder instead of a new timestamped one.
        epochs: override ``training.max_epochs``.
        resume: continue the interrupted run in ``run_dir`` from its last checkpoint
            (``<run_dir>/checkpoints/last.ckpt``, written after every epoch).

    A run that fails before writing anything but its config and logs (no checkpoint, predictor or metrics)
    removes the folder it created; a run that wrote results keeps them.

    Subclasses set whatever state they need in ``setup`` and read it in the later steps.
    """

    registry_name: str = ""
    registry_kind: str = "experiment"
    compatibility: str = "any experiment config"

    def __init__(
        self,
        config: Union[str, Path, Mapping[str, Any]],
        dataset_path: Optional[Union[str, Path]] = None,
        output_dir: Optional[Union[str, Path]] = None,
        debug: bool = False,
        run_dir: Optional[Union[str, Path]] = None,
        epochs: Optional[int] = None,
        resume: bool = False,
    ) -> None:
        self.config = validate_config(apply_overrides(load_config(config), debug=debug, epochs=epochs))
        check_config_dataset(self.config, dataset_path)
        if resume and (run_dir is None or not last_checkpoint(run_dir).is_file()):
            raise ConfigError(
                f"--resume {run_dir}: no checkpoints/last.ckpt there (the run ended before its first epoch, or it "
                "is not a run folder); start a new run instead"
            )
        self.resume = resume
        data = self.config.get("data") or {}
        experiment = self.config.get("experiment") or {}
        self.dataset_path = resolve_data_path(dataset_path, data.get("path"))
        logging_cfg = self.config.get("logging") or {}
        self.output_dir = Path(output_dir or logging_cfg.get("output_dir") or "experiments/runs")
        self.debug = debug
        self.name = experiment.get("name") or "experiment"
        self.seed = int(experiment.get("seed", 0) or 0)
        self.params: Dict[str, Any] = dict(experiment.get("params") or {})
        self._fixed_run_dir = Path(run_dir) if run_dir is not None else None
        self.run_dir: Optional[Path] = None
        self._created_run_dir = False

    @classmethod
    def from_config(cls, source: Union[str, Path, Mapping[str, Any]], **kwargs) -> BaseExperiment:
        return cls(source, **kwargs)

    # ------------------------------------------------------------------ helpers
    @property
    def rank(self) -> int:
        return global_rank()

    def make_run_dir(self) -> Path:
        """The run folder: ``run_dir`` if given, the folder rank 0 of a distributed run announced, else a new
        ``<output_dir>/<name>/<timestamp>/``. Only rank 0 creates it."""
        if self._fixed_run_dir is not None:
            run_dir = self._fixed_run_dir
        elif self.rank != 0 and os.environ.get(RUN_DIR_ENV):
            run_dir = Path(os.environ[RUN_DIR_ENV])
        else:
            run_dir = self.output_dir / self.name / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        if self.rank == 0:
            self._created_run_dir = not run_dir.exists()
            run_dir.mkdir(parents=True, exist_ok=True)
            os.environ[RUN_DIR_ENV] = str(run_dir)  # inherited by the processes a DDP launcher starts
        self.run_dir = run_dir
        return run_dir

    def resume_checkpoint(self) -> Optional[str]:
        """The checkpoint training continues from: the run folder's last one when resuming, else None."""
        return str(last_checkpoint(self.run_dir)) if self.resume and self.run_dir is not None else None

    def discard_empty_run_dir(self) -> None:
        """Remove the run folder this run created if it holds nothing but its config and logs."""
        run_dir = self.run_dir
        if self.rank != 0 or run_dir is None or not self._created_run_dir or not run_dir.is_dir():
            return
        for path in run_dir.rglob("*"):
            if path.is_file() and (
                path.suffix == ".ckpt"
                or (path.name != "config.yaml" and path.relative_to(run_dir).parts[0] not in LOG_DIRS)
            ):
                return
        shutil.rmtree(run_dir, ignore_errors=True)

    # ------------------------------------------------------------------ steps
    def setup(self) -> None:
        """Load the data, build the model, create the run folder."""
        raise NotImplementedError

    def train(self):
        """Train the model; returns the trained predictor."""
        raise NotImplementedError

    def evaluate(self) -> ExperimentResult:
        """Score the trained model; returns the :class:`ExperimentResult`."""
        raise NotImplementedError

    def run(self) -> ExperimentResult:
        try:
            self.setup()
            self.train()
            return self.evaluate()
        except BaseException:
            self.discard_empty_run_dir()
            raise


Registry.add_kind("experiment", BaseExperiment)
