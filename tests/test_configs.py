"""Every YAML under configs/ is valid, and every experiment config builds its network and computes a loss.

Search configs (``configs/search/*`` with ``study``/``parameters``) are checked by the search module's
own validator against ``configs/search/base.yaml``.
"""

from pathlib import Path

import pytest
import torch
import yaml

from gluonts_diffusion.experiments.config import ConfigError, validate_config
from gluonts_diffusion.experiments.search import SearchConfigError, validate_search_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ALL = sorted(CONFIGS.rglob("*.yaml"))


def is_search_config(path: Path) -> bool:
    content = yaml.safe_load(path.read_text()) or {}
    return "parameters" in content and "study" in content


EXPERIMENTS = [p for p in ALL if not is_search_config(p)]
SEARCHES = [p for p in ALL if is_search_config(p)]


def test_the_expected_configs_exist():
    names = {str(p.relative_to(CONFIGS)) for p in ALL}
    for required in (
        "experiment.yaml",
        "quickstart.yaml",
        "patterns/multi_scale.yaml",
        "patterns/ensemble.yaml",
        "patterns/guidance.yaml",
        "search/base.yaml",
        "search/search.yaml",
    ):
        assert required in names
    families = {p.stem for p in (CONFIGS / "components").glob("*.yaml")}
    assert families == {"preprocessing", "architectures", "noise", "sde", "objectives", "samplers"}
    assert len(list((CONFIGS / "leaderboard").glob("*.yaml"))) >= 5


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_experiment_config_is_valid_and_builds(path, data_dir):
    config = validate_config(path)
    from gluonts_diffusion.model.estimator import DiffusionEstimator

    estimator = DiffusionEstimator.from_config(config, dataset_path=data_dir)
    model = estimator.create_lightning_module().model
    batch, horizon, length = 2, estimator.prediction_length, model.past_length
    features = len(estimator.time_features) + 1
    dim = () if estimator.target_dim == 1 else (estimator.target_dim,)  # a multivariate target: (..., dim)
    torch.manual_seed(0)
    loss = model.loss(
        past_target=torch.rand(batch, length, *dim) + 1.0,
        past_observed_values=torch.ones(batch, length, *dim),
        past_time_feat=torch.zeros(batch, length, features),
        future_time_feat=torch.zeros(batch, horizon, features),
        future_target=torch.rand(batch, horizon, *dim) + 1.0,
        future_observed_values=torch.ones(batch, horizon, *dim),
    )
    assert torch.isfinite(loss).all()


@pytest.mark.parametrize("path", SEARCHES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_search_config_is_valid(path):
    search = validate_search_config(path, CONFIGS / "search" / "base.yaml")
    assert search["study"]["n_trials"] >= 1 and search["parameters"]


def test_the_reference_experiment_matches_the_original_example():
    """configs/experiment.yaml is the seed's example written with the canonical keys (name, context_length, ...)."""
    config = validate_config(CONFIGS / "experiment.yaml")
    c = config["components"]
    assert c["architecture"] == {"name": "transformer", "params": {"model_dim": 256, "num_heads": 8, "num_layers": 6}}
    assert c["preprocessing"] == {"name": "wavelet", "params": {"wavelet": "db4", "level": 3}}
    assert c["noise"] == {"name": "standard", "params": {}}
    assert (c["sde"]["name"], c["objective"]["name"], c["objective"]["params"]["loss_weight"]) == (
        "vpsde",
        "score_matching",
        "uniform",
    )
    assert c["sampler"] == {"name": "euler", "params": {"num_steps": 1000}}
    assert config["data"] == {"dataset": "bitcoin_daily", "context_length": 252, "prediction_length": 21}
    assert (config["training"]["batch_size"], float(config["training"]["lr"]), config["training"]["max_epochs"]) == (
        32,
        1e-4,
        100,
    )


def test_validators_name_the_bad_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: {type: nosuch}\ndata: {dataset: m4_hourly}\n")
    with pytest.raises(
        ConfigError, match="experiment.type: unknown experiment 'nosuch'; known experiment components: .*forecast"
    ):
        validate_config(bad)
    base = CONFIGS / "search" / "base.yaml"
    with pytest.raises(SearchConfigError, match="model_dimm"):
        validate_search_config({"parameters": {"components.architecture.params.model_dimm": {"grid": [1]}}}, base)
    with pytest.raises(SearchConfigError, match="exactly one range"):
        validate_search_config({"parameters": {"training.learning_rate": {"between": [1, 2]}}}, base)
    with pytest.raises(SearchConfigError, match="low < high"):
        validate_search_config({"parameters": {"training.learning_rate": {"loguniform": [1.0, 0.1]}}}, base)
    with pytest.raises(SearchConfigError, match="grid needs every parameter"):
        validate_search_config(
            {"study": {"sampler": "grid"}, "parameters": {"training.learning_rate": {"uniform": [0.1, 1.0]}}}, base
        )
    with pytest.raises(SearchConfigError, match="study.metric"):
        validate_search_config(
            {"study": {"metric": "accuracy"}, "parameters": {"training.learning_rate": {"uniform": [0.1, 1.0]}}}, base
        )
