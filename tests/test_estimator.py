"""DiffusionEstimator end to end on real data, at GluonTS's tiny test sizes."""

import numpy as np
import pytest
import torch
from gluonts.evaluation import Evaluator, backtest_metrics, make_evaluation_predictions
from gluonts.model.forecast import SampleForecast
from gluonts.model.predictor import Predictor
from tiny import TINY_ARCHITECTURE as TINY
from tiny import synthetic, tiny_estimator

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.data.datasets import load_dataset
from gluonts_diffusion.model.resampling import with_sampler
from gluonts_diffusion.trust import UntrustedImport, allowed_imports


@pytest.fixture(scope="module")
def m4_slice(data_dir):
    return load_dataset("m4_hourly", data_dir, max_series=12)


@pytest.fixture(scope="module")
def trained(m4_slice, tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    kwargs = {"max_epochs": 1, "default_root_dir": str(root), "enable_progress_bar": False, "logger": False}
    torch.manual_seed(0)
    return tiny_estimator(kwargs).train(m4_slice.train)


def predict(predictor, dataset, num_samples=16, seed=0):
    torch.manual_seed(seed)
    forecasts, series = make_evaluation_predictions(dataset, predictor, num_samples=num_samples)
    return list(forecasts), list(series)


def test_train_predict_evaluate_on_m4(trained, m4_slice):
    forecasts, series = predict(trained, m4_slice.test)
    assert len(forecasts) == len(m4_slice.test)
    assert all(isinstance(f, SampleForecast) for f in forecasts)
    assert forecasts[0].samples.shape == (16, 48)
    assert all(np.isfinite(f.samples).all() for f in forecasts)
    assert forecasts[0].start_date == series[0].index[-48]
    metrics, _ = Evaluator(num_workers=0)(series, forecasts)
    assert np.isfinite(metrics["mean_wQuantileLoss"]) and metrics["mean_wQuantileLoss"] > 0


def test_backtest_metrics(trained, m4_slice):
    metrics, _ = backtest_metrics(test_dataset=m4_slice.test[:4], predictor=trained, evaluator=Evaluator(num_workers=0))
    assert np.isfinite(metrics["MASE"])


def test_serialize_round_trip_gives_identical_forecasts(trained, m4_slice, tmp_path):
    trained.serialize(tmp_path)
    reloaded = Predictor.deserialize(tmp_path)
    first, _ = predict(trained, m4_slice.test[:3], seed=7)
    again, _ = predict(reloaded, m4_slice.test[:3], seed=7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.samples, b.samples)
    other, _ = predict(reloaded, m4_slice.test[:3], seed=8)
    assert not np.allclose(first[0].samples, other[0].samples)


def test_resampling_with_another_sampler_keeps_weights(trained, m4_slice):
    faster = with_sampler(trained, "euler", {"num_steps": 4, "probability_flow": True}, num_parallel_samples=4)
    assert faster.prediction_net.model.sampler.registry_name == "euler"
    assert trained.prediction_net.model.sampler.registry_name == "dpm"
    for a, b in zip(trained.prediction_net.state_dict().values(), faster.prediction_net.state_dict().values()):
        torch.testing.assert_close(a, b)
    forecasts, _ = predict(faster, m4_slice.test[:2], num_samples=8)
    assert forecasts[0].samples.shape == (8, 48) and np.isfinite(forecasts[0].samples).all()


def test_nans_and_short_series_and_item_starts(trainer_kwargs):
    data = synthetic(6, [30, 12, 40, 9, 50, 25], nan_fraction=0.2)
    data[1]["target"][:] = np.nan  # a series with no observed value at all
    estimator = tiny_estimator(trainer_kwargs, freq="D", prediction_length=7, context_length=28)
    predictor = estimator.train(data)
    forecasts = list(predictor.predict(data, num_samples=8))
    assert len(forecasts) == 6
    for entry, forecast in zip(data, forecasts):
        assert forecast.samples.shape == (8, 7)
        assert np.isfinite(forecast.samples).all(), "a NaN in the input must never give a NaN forecast"
        assert forecast.start_date == entry["start"] + len(entry["target"])


def test_training_loss_masks_missing_future_values():
    from gluonts_diffusion.model.module import DiffusionModel
    from gluonts_diffusion.model.specs import component_spec

    model = DiffusionModel(4, 8, component_spec({}, {"architecture": TINY}), lags_seq=[1, 2], num_time_features=1)
    past = torch.randn(3, model.past_length)
    kwargs = dict(
        past_target=past,
        past_observed_values=torch.ones_like(past),
        past_time_feat=torch.zeros(3, model.past_length, 1),
        future_time_feat=torch.zeros(3, 4, 1),
        future_observed_values=torch.tensor([[1.0, 1, 0, 0]] * 3),
    )
    a = model.loss(
        future_target=torch.tensor([[1.0, 2, 0, 0]] * 3), generator=torch.Generator().manual_seed(0), **kwargs
    )
    b = model.loss(
        future_target=torch.tensor([[1.0, 2, 1e6, -1e6]] * 3), generator=torch.Generator().manual_seed(0), **kwargs
    )
    torch.testing.assert_close(a, b)


def test_bad_components_fail_when_the_estimator_is_built(rectified_path_sde):
    """Unknown names, wrong parameters, bad values and incompatible pairs are refused at construction."""
    with pytest.raises(ValueError, match="known sampler components: .*ddim"):
        DiffusionEstimator(freq="H", prediction_length=4, sampler="nosuch")
    with pytest.raises(ValueError, match="num_stepz"):
        DiffusionEstimator(freq="H", prediction_length=4, sampler_kwargs={"num_stepz": 3})
    with pytest.raises(ValueError, match="^architecture: .*num_heads"):
        DiffusionEstimator(freq="H", prediction_length=4, architecture_kwargs={"model_dim": 10, "num_heads": 3})
    with pytest.raises(ValueError, match="incompatible components: sampler 'dpm': .*alpha"):
        DiffusionEstimator(freq="H", prediction_length=4, sde=rectified_path_sde)


def test_trains_when_every_series_is_shorter_than_a_full_window(trainer_kwargs):
    data = synthetic(3, [10, 12, 11])  # shorter than min_past + prediction_length = 14
    predictor = tiny_estimator(trainer_kwargs, freq="D", prediction_length=7, context_length=28).train(data)
    forecasts = list(predictor.predict(data, num_samples=4))
    assert all(f.samples.shape == (4, 7) and np.isfinite(f.samples).all() for f in forecasts)


OUT_OF_TREE = '''
from gluonts_diffusion.components.architectures.cnn import CNNArchitecture
from gluonts_diffusion.core.registry import Registry


@Registry.register("architecture", "out_of_tree_cnn")
class OutOfTreeCNN(CNNArchitecture):
    """The CNN, registered by a module outside the package."""
'''


def test_predictor_with_an_out_of_tree_component_deserializes(trainer_kwargs, tmp_path, monkeypatch):
    import importlib
    import sys

    from gluonts_diffusion.core.registry import Registry

    (tmp_path / "gd_out_of_tree_arch.py").write_text(OUT_OF_TREE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("gd_out_of_tree_arch")
    try:
        estimator = tiny_estimator(
            trainer_kwargs,
            freq="D",
            prediction_length=4,
            context_length=8,
            architecture="out_of_tree_cnn",
            architecture_kwargs={"residual_channels": 8, "num_layers": 2, "hidden_size": 8},
        )
        assert estimator.components["architecture"]["module"] == "gd_out_of_tree_arch"
        assert estimator.components["sde"]["module"] == "gluonts_diffusion.components.sde.vpsde"
        predictor = estimator.train(synthetic(4, 40))
        (tmp_path / "predictor").mkdir()
        predictor.serialize(tmp_path / "predictor")
        # a fresh process: the component's module is not imported, its name not registered
        del Registry._components["architecture"]["out_of_tree_cnn"]
        del sys.modules["gd_out_of_tree_arch"]
        # a saved file must not import a package the user did not allow (importing runs its code)
        with pytest.raises(UntrustedImport, match="GLUONTS_DIFFUSION_ALLOW_IMPORTS=gd_out_of_tree_arch"):
            Predictor.deserialize(tmp_path / "predictor")
        assert "gd_out_of_tree_arch" not in sys.modules
        with allowed_imports("gd_out_of_tree_arch"):
            reloaded = Predictor.deserialize(tmp_path / "predictor")
        assert "out_of_tree_cnn" in Registry.list("architecture")
        assert type(reloaded.prediction_net.model.architecture).__module__ == "gd_out_of_tree_arch"
        forecast = next(iter(reloaded.predict(synthetic(1, 40), num_samples=4)))
        assert forecast.samples.shape == (4, 4) and np.isfinite(forecast.samples).all()
    finally:
        Registry._components["architecture"].pop("out_of_tree_cnn", None)
        sys.modules.pop("gd_out_of_tree_arch", None)


def test_component_specs_without_or_with_an_unimportable_module():
    from gluonts_diffusion.core.registry import RegistryError
    from gluonts_diffusion.model.specs import build_component

    assert build_component("sde", {"name": "vesde", "params": {}}).registry_name == "vesde"  # specs saved before
    with pytest.raises(RegistryError, match="unknown sde 'gone'"):
        build_component("sde", {"name": "gone", "params": {}, "module": "no_such_package.gone"})


def test_predict_batch_size_defaults_to_400_paths_per_call_on_cpu(monkeypatch):
    from gluonts_diffusion.model.estimator import default_predict_batch_size

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [default_predict_batch_size(64, s) for s in (100, 8, 1000)] == [4, 50, 1]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_predict_batch_size(64, 100) == 64
