"""Optuna search at a tiny budget: trials over dotted config paths, failing trials recorded (not fatal),
resuming from the SQLite storage, trial table and best config written."""

import copy
import csv
import json
from pathlib import Path

import optuna
import yaml
from tiny import tiny_config

from gluonts_diffusion.experiments.config import validate_config
from gluonts_diffusion.experiments.search import run_search, set_dotted, validate_search_config

BASE = tiny_config()

#: 2 x 2 grid: num_heads 5 does not divide model_dim 16 and num_steps 0 is refused: both fail validation
#: before any training (the trial is recorded as failed, the study goes on)
SEARCH = {
    "study": {"name": "tiny_grid", "metric": "mean_wQuantileLoss", "direction": "minimize", "seed": 0},
    "parameters": {
        "components.architecture.params.num_heads": {"grid": [2, 5]},
        "components.sampler.params.num_steps": {"grid": [3, 0]},
    },
}


def test_search_records_failures_and_resumes(data_dir, tmp_path):
    base, search = tmp_path / "base.yaml", tmp_path / "search.yaml"
    base.write_text(yaml.safe_dump(BASE))
    search.write_text(yaml.safe_dump(SEARCH))
    out = tmp_path / "study"
    checked = validate_search_config(search, base)
    assert checked["study"]["sampler"] == "grid" and checked["study"]["n_trials"] == 4

    first = run_search(base, search, n_trials=2, dataset_path=data_dir, output_dir=out)
    storage = f"sqlite:///{(out / 'study.db').resolve()}"
    assert first.storage == storage and (out / "study.db").exists()
    assert first.n_complete + first.n_failed == 2

    # resume through the CLI: the same storage, the rest of the grid (budget = grid size = 4)
    from gluonts_diffusion.search import main

    code = main(
        [
            "--base-config",
            str(base),
            "--search-config",
            str(search),
            "--dataset-path",
            str(data_dir),
            "--output",
            str(out),
        ]
    )
    assert code == 0
    study = optuna.load_study(study_name="tiny_grid", storage=storage)
    trials = study.get_trials()
    assert len(trials) == 4
    states = {
        (t.params["components.architecture.params.num_heads"], t.params["components.sampler.params.num_steps"]): t
        for t in trials
    }
    assert set(states) == {(2, 3), (2, 0), (5, 3), (5, 0)}
    assert states[(2, 3)].state == optuna.trial.TrialState.COMPLETE and states[(2, 3)].value > 0
    for key in ((2, 0), (5, 3), (5, 0)):
        assert states[key].state == optuna.trial.TrialState.FAIL and states[key].user_attrs["error"]
    assert "num_steps" in states[(2, 0)].user_attrs["error"]
    # chosen on the validation windows only: the trial never read the test split
    assert first.metric == "val_mean_wQuantileLoss" and "val_coverage_90" in states[(2, 3)].user_attrs
    trial_dir = Path(states[(2, 3)].user_attrs["run_dir"])
    trial_config = yaml.safe_load((trial_dir / "config.yaml").read_text())
    assert trial_config["evaluation"]["test"] is False and trial_config["training"]["validation"] is True
    metrics = json.loads((trial_dir / "metrics.json").read_text())["metrics"]
    assert metrics["val_mean_wQuantileLoss"] == states[(2, 3)].value and "mean_wQuantileLoss" not in metrics

    with open(out / "trials.csv") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 4 and sorted(r["state"] for r in table) == ["COMPLETE", "FAIL", "FAIL", "FAIL"]
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert validate_config(best)["components"]["architecture"]["params"]["num_heads"] == 2

    # a third call has nothing left to do
    again = run_search(base, search, dataset_path=data_dir, output_dir=out)
    assert (again.n_complete, again.n_failed) == (1, 3)


def test_samplers_and_ranges(tmp_path):
    base = copy.deepcopy(BASE)
    search = {
        "study": {"n_trials": 3, "sampler": "random", "seed": 1},
        "parameters": {
            "training.learning_rate": {"loguniform": [1.0e-4, 1.0e-2]},
            "components.architecture.params.dropout": {"uniform": [0.0, 0.3]},
            "components.architecture.params.num_layers": {"int": [1, 3]},
            "components.sampler.type": {"choice": ["ddim", "dpm"]},
            "components.preprocessing": {"choice": [{"type": "raw"}, {"type": "fourier"}]},
        },
    }
    checked = validate_search_config(search, base)
    assert checked["study"]["metric"] == "val_mean_wQuantileLoss" and checked["study"]["direction"] == "minimize"

    from gluonts_diffusion.experiments.search import suggest

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        values = {path: suggest(trial, path, spec) for path, spec in checked["parameters"].items()}
        assert (
            1e-4 <= values["training.learning_rate"] <= 1e-2
            and 1 <= values["components.architecture.params.num_layers"] <= 3
        )
        assert values["components.preprocessing"] in ({"type": "raw"}, {"type": "fourier"})
        study.tell(trial, 0.0)
    assert set_dotted({}, "a.b.c", 1) == {"a": {"b": {"c": 1}}}


def test_search_parameters_may_use_the_seeds_aliases():
    """A trial's dotted paths are written in canonical keys, whichever spelling the search config used."""
    from gluonts_diffusion.experiments.search import apply_params

    base = validate_config(tiny_config())  # written with the seed's keys (num_epochs, type, ...)
    trial = validate_config(apply_params(base, {"training.learning_rate": 0.1, "components.sampler.type": "dpm"}))
    assert trial["training"]["lr"] == 0.1 and "learning_rate" not in trial["training"]
    assert trial["components"]["sampler"] == {"name": "dpm", "params": {"num_steps": 3}}
