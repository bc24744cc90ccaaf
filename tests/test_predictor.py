"""``DiffusionPredictor``: stores its freq and the package version, loads old predictors, names the file and
what to do for every broken folder, and seeds forecasts per series."""

import json
import re
import sys
import warnings

import numpy as np
import pytest
import torch
from gluonts.model.predictor import Predictor
from gluonts.torch.model.predictor import PyTorchPredictor
from tiny import quiet_trainer, synthetic, tiny_estimator

from gluonts_diffusion import __version__, with_sampler
from gluonts_diffusion.model.migrations import migrate_spec
from gluonts_diffusion.model.predictor import (
    DiffusionPredictor,
    MissingPredictorFile,
    SavedPredictorError,
    load_predictor,
)

AGAIN = "serialize the predictor again (predictor.serialize(path))"


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    root = tmp_path_factory.mktemp("predictor")
    return tiny_estimator(quiet_trainer(root), freq="D", prediction_length=7).train(synthetic(4, 60))


@pytest.fixture
def saved(predictor, tmp_path):
    path = tmp_path / "not" / "yet" / "model"  # serialize creates the folders (the README's snippet)
    predictor.serialize(path)
    return path


def samples(predictor, data, **kwargs):
    return [forecast.samples for forecast in predictor.predict(data, **kwargs)]


def as_plain(predictor):
    """The same network in GluonTS's own ``PyTorchPredictor`` (as predictors were made before)."""
    return PyTorchPredictor(
        input_names=predictor.input_names,
        prediction_net=predictor.prediction_net,
        batch_size=predictor.batch_size,
        prediction_length=predictor.prediction_length,
        input_transform=predictor.input_transform,
    )


def assert_same(a, b):
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_predictor_records_freq_and_version_and_gluonts_dispatches_to_it(predictor, saved):
    assert isinstance(predictor, DiffusionPredictor) and predictor.freq == "D"
    config = json.loads((saved / "gluonts-config.json").read_text())
    assert config["gluonts_diffusion"] == __version__
    assert config["type"] == (saved / "type.txt").read_text() == "gluonts_diffusion.model.predictor.DiffusionPredictor"
    spec = json.loads((saved / "predictor.json").read_text())
    modules = {
        entry["module"] for entry in spec["kwargs"]["prediction_net"]["kwargs"]["model_kwargs"]["components"].values()
    }
    assert all(module.startswith("gluonts_diffusion.components.") for module in modules)
    reloaded = Predictor.deserialize(saved)
    assert type(reloaded) is DiffusionPredictor and reloaded.freq == "D"
    data = synthetic(3, 60)
    torch.manual_seed(0)
    before = samples(predictor, data)
    torch.manual_seed(0)
    assert_same(before, samples(reloaded, data))


def test_unseeded_forecasts_are_those_of_the_plain_pytorch_predictor(predictor):
    plain = as_plain(predictor)
    data = synthetic(5, 60)
    torch.manual_seed(1)
    expected = samples(plain, data, num_samples=12)
    torch.manual_seed(1)
    assert_same(expected, samples(predictor, data, num_samples=12))


def test_old_pytorch_predictors_still_load(predictor, tmp_path):
    old = as_plain(predictor)
    old.serialize(tmp_path)  # GluonTS's own serialization, as predictors were saved before
    assert type(Predictor.deserialize(tmp_path)) is PyTorchPredictor
    loaded = load_predictor(tmp_path)
    assert type(loaded) is DiffusionPredictor and loaded.freq is None
    data = synthetic(3, 60)
    assert_same(samples(predictor, data, seed=5), samples(loaded, data, seed=5))


def test_seeded_forecasts_do_not_depend_on_batches_or_order(predictor):
    data = synthetic(5, 60, seed=3)
    expected = samples(predictor, data, num_samples=6, seed=11)
    one_by_one = DiffusionPredictor.from_predictor(predictor, batch_size=1)
    assert_same(expected, samples(one_by_one, data, num_samples=6, seed=11))
    assert_same(expected[::-1], samples(predictor, data[::-1], num_samples=6, seed=11))
    assert expected[0].shape == (6, 7)
    assert not np.array_equal(expected[0], samples(predictor, data[:1], num_samples=6, seed=12)[0])


def test_with_sampler_gives_a_diffusion_predictor(predictor, tmp_path):
    other = with_sampler(predictor, "dpm", {"num_steps": 2})
    assert isinstance(other, DiffusionPredictor) and other.freq == "D"
    other.serialize(tmp_path / "dpm")
    assert (
        load_predictor(tmp_path / "dpm").prediction_net.hparams["model_kwargs"]["components"]["sampler"]["name"]
        == "dpm"
    )


def _remove(path, name):
    (path / name).unlink()


def _truncate(path, name):
    data = (path / name).read_bytes()
    (path / name).write_bytes(data[: len(data) // 2])


def _edit_json(name, edit):
    def apply(path, _):
        config = json.loads((path / name).read_text())
        edit(config)
        (path / name).write_text(json.dumps(config))

    return apply


def _unknown_architecture(spec):
    spec["kwargs"]["prediction_net"]["kwargs"]["model_kwargs"]["components"]["architecture"]["name"] = "nope"


def _other_size(spec):
    spec["kwargs"]["prediction_net"]["kwargs"]["model_kwargs"]["components"]["architecture"]["params"]["model_dim"] = 8


@pytest.mark.parametrize(
    "name, damage, error, message",
    [
        ("gluonts-config.json", _remove, MissingPredictorFile, "{file} is missing: copy the whole folder, or {again}"),
        ("predictor.json", _remove, MissingPredictorFile, "{file} is missing: copy the whole folder, or {again}"),
        (
            "prediction-net-state.pt",
            _remove,
            MissingPredictorFile,
            "{file} is missing: copy the whole folder, or {again}",
        ),
        (
            "prediction-net-state.pt",
            lambda p, n: (p / n).write_bytes(b""),
            SavedPredictorError,
            "{file} is empty: copy it again, or {again}",
        ),
        (
            "prediction-net-state.pt",
            _truncate,
            SavedPredictorError,
            "{file} cannot be read (.+): the file is truncated or not a state dict; copy it again, or {again}",
        ),
        (
            "predictor.json",
            _truncate,
            SavedPredictorError,
            "{file} does not build a predictor (.+): undo the edit, or {again}",
        ),
        (
            "predictor.json",
            _edit_json("predictor.json", _unknown_architecture),
            SavedPredictorError,
            "{file} does not build a predictor (.*unknown architecture 'nope'.*): undo the edit, or {again}",
        ),
        (
            "predictor.json",
            _edit_json("predictor.json", _other_size),
            SavedPredictorError,
            "{dir}/prediction-net-state.pt does not fit the network in predictor.json (.+): save the two files together, or {again}",
        ),
        (
            "gluonts-config.json",
            _edit_json("gluonts-config.json", lambda config: config.update(gluonts_diffusion="9.0.0")),
            SavedPredictorError,
            "{file} was written by gluonts-diffusion 9.0.0, this is {version}: another major version cannot load it; "
            "install gluonts-diffusion==9.0.0 or train the model again",
        ),
    ],
    ids=[
        "no-config",
        "no-spec",
        "no-weights",
        "empty-weights",
        "truncated-weights",
        "truncated-spec",
        "edited-spec",
        "weights-mismatch",
        "major-version",
    ],
)
def test_a_broken_folder_fails_with_one_line_naming_the_file(saved, name, damage, error, message):
    damage(saved, name)
    for load in (load_predictor, Predictor.deserialize):  # GluonTS's entry point reaches the same check (type.txt)
        with pytest.raises(error) as caught:
            load(saved)
        text = str(caught.value)
        assert "\n" not in text
        pattern = re.escape(message.format(file=saved / name, dir=saved, again=AGAIN, version=__version__))
        assert re.fullmatch(
            pattern.replace(re.escape("(.+)"), r"\(.+\)")
            .replace(re.escape("(.*"), r"\(.*")
            .replace(re.escape(".*)"), r".*\)"),
            text,
        ), text


def test_a_folder_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(MissingPredictorFile) as caught:
        load_predictor(tmp_path / "nowhere")
    assert (
        str(caught.value) == f"{tmp_path / 'nowhere'} is not a folder: give the folder predictor.serialize(path) wrote"
    )


def test_another_minor_version_warns_and_loads(saved):
    _edit_json("gluonts-config.json", lambda config: config.update(gluonts_diffusion="0.0.9"))(saved, None)
    expected = (
        f"{saved / 'gluonts-config.json'} was written by gluonts-diffusion 0.0.9, this is {__version__}: "
        f"check its forecasts and {AGAIN}"
    )
    with pytest.warns(UserWarning) as caught:
        loaded = load_predictor(saved)
    assert [str(w.message) for w in caught if str(w.message).startswith(str(saved))] == [expected]
    assert loaded.freq == "D"


def test_a_saved_file_naming_an_unallowed_module_runs_nothing(saved, tmp_path, monkeypatch):
    """GluonTS's decoder imports every class predictor.json names: the loader checks them all first."""
    from gluonts_diffusion.model.predictor import SavedPredictorError, load_predictor
    from gluonts_diffusion.trust import UntrustedImport, allowed_imports

    marker = tmp_path / "ran.txt"
    (tmp_path / "gd_probe.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass Gen:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = saved / "predictor.json"
    text = spec.read_text()
    assert "gluonts.model.forecast_generator.SampleForecastGenerator" in text
    spec.write_text(text.replace("gluonts.model.forecast_generator.SampleForecastGenerator", "gd_probe.Gen"))
    with pytest.raises(UntrustedImport) as err:
        load_predictor(saved)
    assert str(err.value) == (
        f"{spec} names 'gd_probe.Gen': importing 'gd_probe' from data is not allowed; opt in with "
        "GLUONTS_DIFFUSION_ALLOW_IMPORTS=gd_probe (or `with allowed_imports('gd_probe')` in code)"
    )
    assert not marker.exists() and "gd_probe" not in sys.modules
    with allowed_imports("gd_probe"), pytest.raises(SavedPredictorError, match="serde-decodable"):
        load_predictor(saved)  # allowed by the user: imported (then GluonTS refuses to build the class)
    assert marker.exists()
    sys.modules.pop("gd_probe", None)


@pytest.mark.parametrize("seed", [None, 3])
def test_the_network_samples_without_autograd_but_not_in_inference_mode(predictor, seed):
    """No graph is built while sampling, and nothing sampled or cached becomes an inference tensor (which
    a later training step could not save for backward)."""
    modes = []
    hook = predictor.prediction_net.register_forward_hook(
        lambda *_: modes.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
    )
    try:
        forecasts = list(predictor.predict(synthetic(3, 60, seed=1), num_samples=2, seed=seed))
    finally:
        hook.remove()
    assert modes and all(mode == (False, False) for mode in modes)
    assert len(forecasts) == 3


def _drop_parameterization(node):
    """Remove ``parameterization`` from the denoising objective's params, as predictors before 0.2.0 saved it
    when the default (then eps) was used."""
    if isinstance(node, dict):
        if node.get("name") == "denoising":
            node["params"].pop("parameterization", None)
        for value in node.values():
            _drop_parameterization(value)
    elif isinstance(node, list):
        for value in node:
            _drop_parameterization(value)


@pytest.mark.parametrize("version, expected", [("0.3.0", "none"), (None, "none"), ("0.4.0", None)])
def test_an_imputation_model_saved_before_0_4_diffuses_its_window_as_it_did(version, expected):
    """0.4.0 diffuses an imputation window relative to its linear interpolation: older predictors keep the
    window itself (``imputation_anchor: none``); the rest of the file is unchanged."""
    spec = {"kwargs": {"prediction_net": {"kwargs": {"model_kwargs": {"imputation": True}, "lr": 0.001}}}}
    migrated = json.loads(migrate_spec(json.dumps(spec), version))
    kwargs = migrated["kwargs"]["prediction_net"]["kwargs"]
    assert kwargs["model_kwargs"].get("imputation_anchor") == expected
    assert kwargs["lr"] == 0.001 and kwargs["model_kwargs"]["imputation"] is True


@pytest.mark.parametrize("version, expected", [("0.1.0", "eps"), (None, "eps"), ("0.2.0", "edm")])
def test_a_predictor_saved_before_a_default_changed_keeps_its_meaning(tmp_path, version, expected):
    """0.2.0 made edm the denoising default: an older predictor that relied on the old default (eps) loads as
    eps and forecasts as it did; one saved by 0.2.0 without the parameter is edm."""
    eps = tiny_estimator(
        quiet_trainer(tmp_path), freq="D", prediction_length=7, objective_kwargs={"parameterization": "eps"}
    )
    trained = eps.train(synthetic(4, 60))
    trained.serialize(tmp_path / "model")
    _edit_json("predictor.json", _drop_parameterization)(tmp_path / "model", None)
    _edit_json("gluonts-config.json", lambda config: config.update(gluonts_diffusion=version))(tmp_path / "model", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # another minor version warns (tested above)
        loaded = load_predictor(tmp_path / "model")
    assert loaded.prediction_net.model.objective.parameterization == expected
    if expected == "eps":
        data = synthetic(2, 60, seed=5)
        assert_same(samples(trained, data, seed=1), samples(loaded, data, seed=1))
