"""Hyperparameter search with Optuna over dotted paths of an experiment config.

A search config (``configs/search/*.yaml``)::

    study:
      name: m4_transformer          # default: <base experiment name>_search
      metric: mean_wQuantileLoss    # any reported metric (scoring.METRICS); default mean_wQuantileLoss;
                                    # always its validation version (val_mean_wQuantileLoss; the val_ name
                                    # is accepted too); a coverage is optimised as |coverage - nominal|
      direction: minimize           # or maximize (default: the metric's own direction)
      n_trials: 20                  # total trial budget of the study (all workers together)
      sampler: tpe                  # Optuna sampler: grid | random | tpe (default: grid if all grids, else tpe)
      seed: 0                       # Optuna sampler seed
      output_dir: experiments/search/m4_transformer
      storage: null                 # default sqlite:///<output_dir>/study.db; any Optuna storage URL
      timeout: null                 # seconds per worker
    parameters:                     # dotted paths into the base config, one range each
      components.architecture.params.model_dim: {grid: [32, 64]}
      components.sampler.type: {choice: [ddim, dpm]}
      training.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
      components.architecture.params.dropout: {uniform: [0.0, 0.3]}
      components.architecture.params.num_layers: {int: [1, 4]}      # or [low, high, step]

Trials choose on validation only: each trial's config gets ``training.validation`` (1 window unless the base
asks for more) and ``evaluation.test: false``, so a trial trains without the last window(s) of every training
series, is scored on them (``val_`` metrics) and never reads the test split; ``best_config.yaml`` is the best
trial on that validation metric. Every trial's config is checked with :func:`validate_config` before training. A failing trial
(invalid config, training error, non-finite metric) is recorded as ``TrialState.FAIL`` with its error
in the trial's user attribute ``error``; the study goes on. The study lives in its storage
(``load_if_exists``): rerunning the same command resumes it up to ``n_trials``, and several workers
given the same storage URL share the budget. Written: ``trials.csv`` (after every trial),
``best_config.yaml`` and ``best.json``.
"""

from .space import (
    OPTUNA_SAMPLERS,
    RANGE_KINDS,
    STUDY_KEYS,
    SearchConfigError,
    apply_params,
    set_dotted,
    suggest,
    validate_search_config,
)
from .study import SearchResult, make_optuna_sampler, make_storage, run_search

__all__ = [
    "OPTUNA_SAMPLERS",
    "RANGE_KINDS",
    "STUDY_KEYS",
    "SearchConfigError",
    "SearchResult",
    "apply_params",
    "make_optuna_sampler",
    "make_storage",
    "run_search",
    "set_dotted",
    "suggest",
    "validate_search_config",
]
