"""Running an Optuna study over a search space: trials as experiments, resumable storage, best config."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from ..base import apply_overrides, experiment_class, in_process
from ..config import validate_config
from ..scoring import metrics_shown, objective_value, validation_metric
from ..validation import on_validation_only
from .space import apply_params, decode_choice, encode_choices, suggest, validate_search_config

logger = logging.getLogger(__name__)


@dataclass
class SearchResult:
    study_name: str
    storage: str
    metric: str
    direction: str
    best_value: Optional[float] = None
    best_params: Dict[str, Any] = field(default_factory=dict)
    best_config: Optional[Dict[str, Any]] = None
    n_complete: int = 0
    n_failed: int = 0
    paths: Dict[str, str] = field(default_factory=dict)


def make_optuna_sampler(search: Mapping[str, Any]):
    """The Optuna sampler ``study.sampler`` names (grid over the encoded values, random or TPE), seeded."""
    import optuna

    study, parameters = search["study"], search["parameters"]
    seed = study.get("seed")
    if study["sampler"] == "grid":
        space = {path: encode_choices(next(iter(spec.values()))) for path, spec in parameters.items()}
        return optuna.samplers.GridSampler(space, seed=seed)
    if study["sampler"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_storage(url: str):
    """An Optuna storage; SQL URLs get a heartbeat so trials of a killed worker are marked failed."""
    import optuna

    if url.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql"):
        return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    return url


def metric_value(result, metric: str) -> Optional[float]:
    value = result.metrics.get(metric)
    if value is None:
        value = getattr(result, metric, None)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


FINISHED = ("COMPLETE", "FAIL", "PRUNED")


@dataclass
class Trials:
    """What every trial of one study shares: the base config, the ranges, where they run and what they optimise."""

    name: str
    base: Dict[str, Any]
    parameters: Dict[str, Dict[str, Any]]
    out: Path
    metric: str
    data_path: Optional[Path]
    debug: bool

    def run(self, trial) -> float:
        """Train and score one trial's config; any error fails the trial (recorded as its ``error`` attribute)."""
        try:
            params = {path: suggest(trial, path, spec) for path, spec in self.parameters.items()}
            config = apply_params(self.base, params)
            config.setdefault("experiment", {})["name"] = f"{self.name}_trial{trial.number}"
            config = on_validation_only(apply_overrides(config, debug=self.debug))  # validated by the experiment
            run_dir = self.out / "trials" / f"trial_{trial.number:04d}"
            result = experiment_class(config)(config, dataset_path=self.data_path, run_dir=run_dir).run()
            value = objective_value(self.metric, metric_value(result, self.metric))
            trial.set_user_attr("run_dir", str(run_dir))
            for key in (validation_metric(shown.key) for shown in metrics_shown("trial")):
                if metric_value(result, key) is not None:
                    trial.set_user_attr(key, metric_value(result, key))
            trial.set_user_attr("train_seconds", result.train_seconds)
            if value is None:
                raise ValueError(f"metric {self.metric!r} is missing or not finite in the trial's results")
            return value
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            logger.error("trial %d failed: %s: %s", trial.number, type(err).__name__, err)
            raise

    def write_table(self, study, _trial=None) -> None:
        study.trials_dataframe().to_csv(self.out / "trials.csv", index=False)

    def best_params(self, best) -> Dict[str, Any]:
        """The best trial's parameters, decoded back to the config's values."""
        params = {}
        for path, spec in self.parameters.items():
            if path in best.params:
                categorical = next(iter(spec)) in ("grid", "choice")
                params[path] = (
                    decode_choice(next(iter(spec.values())), best.params[path]) if categorical else best.params[path]
                )
        return params


def optimize(study, trials: Trials, budget: int, timeout: Optional[float]) -> None:
    """Run trials until the study has ``budget`` finished ones (all workers together), writing the table."""
    import optuna

    done = sum(t.state.name in FINISHED for t in study.get_trials(deepcopy=False))
    remaining = max(budget - done, 0)
    if remaining:
        states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
        study.optimize(
            trials.run,
            n_trials=remaining,
            timeout=timeout,
            catch=(Exception,),
            callbacks=[optuna.study.MaxTrialsCallback(budget, states=states), trials.write_table],
            gc_after_trial=True,
        )
    else:
        logger.info("study %s already has %d finished trials (budget %d)", trials.name, done, budget)
    trials.write_table(study)


def summarize(study, trials: Trials, storage: str, direction: str) -> SearchResult:
    """The study's :class:`SearchResult`; writes ``best_config.yaml`` (if a trial completed) and ``best.json``."""
    import yaml

    all_trials = study.get_trials(deepcopy=False)
    complete = [t for t in all_trials if t.state.name == "COMPLETE"]
    out, name, metric = trials.out, trials.name, trials.metric
    n_failed = sum(t.state.name == "FAIL" for t in all_trials)
    result = SearchResult(name, storage, metric, direction, n_complete=len(complete), n_failed=n_failed)
    result.paths["trials"] = str(out / "trials.csv")
    if complete:
        best = study.best_trial
        params = trials.best_params(best)
        best_config = apply_params(trials.base, params)
        best_config.setdefault("experiment", {})["name"] = f"{name}_best"
        result.best_value, result.best_params, result.best_config = best.value, params, best_config
        header = f"# best of study {name!r} ({metric}, {direction}): trial {best.number}, value {best.value:.6g}\n"
        (out / "best_config.yaml").write_text(header + yaml.safe_dump(best_config, sort_keys=False))
        result.paths["best_config"] = str(out / "best_config.yaml")
    else:
        logger.warning("study %s has no completed trial: no best config", name)
    summary = {k: v for k, v in result.__dict__.items() if k not in ("best_config", "paths")}
    (out / "best.json").write_text(json.dumps(summary, indent=2, default=str))
    result.paths["summary"] = str(out / "best.json")
    return result


def run_search(
    base_config: Union[str, Path, Mapping[str, Any]],
    search_config: Union[str, Path, Mapping[str, Any]],
    storage: Optional[str] = None,
    study_name: Optional[str] = None,
    n_trials: Optional[int] = None,
    dataset_path: Optional[Union[str, Path]] = None,
    output_dir: Optional[Union[str, Path]] = None,
    debug: bool = False,
) -> SearchResult:
    """Run (or resume) the study; returns the best trial and the paths written."""
    import optuna

    from gluonts_diffusion.data.datasets import resolve_data_path

    base = in_process(validate_config(base_config), "base config")
    search = validate_search_config(search_config, base)
    study_cfg, parameters = search["study"], search["parameters"]
    name = study_name or study_cfg.get("name") or f"{(base.get('experiment') or {}).get('name') or 'experiment'}_search"
    out = Path(output_dir or study_cfg.get("output_dir") or Path("experiments/search") / name)
    out.mkdir(parents=True, exist_ok=True)
    url = storage or study_cfg.get("storage") or f"sqlite:///{(out / 'study.db').resolve()}"
    if n_trials is None:
        n_trials = min(study_cfg["n_trials"], 3) if debug else study_cfg["n_trials"]
    data_path = resolve_data_path(dataset_path, (base.get("data") or {}).get("path"))
    trials = Trials(name, base, parameters, out, study_cfg["metric"], data_path, debug)
    study = optuna.create_study(
        study_name=name,
        storage=make_storage(url),
        sampler=make_optuna_sampler(search),
        direction=study_cfg["direction"],
        load_if_exists=True,
    )
    study.set_user_attr("metric", trials.metric)
    study.set_user_attr("parameters", json.dumps(parameters))
    optimize(study, trials, int(n_trials), study_cfg.get("timeout"))
    return summarize(study, trials, url, study_cfg["direction"])
