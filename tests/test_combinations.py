"""Every architecture x preprocessing combination trains through DiffusionEstimator and forecasts,
univariate and multivariate, at tiny sizes (1 epoch x 1 batch, 2 sampler steps, 4 sample paths)."""

import numpy as np
import pandas as pd
import pytest
import torch

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.core.registry import Registry

ARCH_PARAMS = {
    "transformer": {"model_dim": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0, "patch_size": 2},
    "cnn": {"residual_channels": 8, "num_layers": 2, "dilation_cycle": 2, "hidden_size": 8},
    "rnn": {"hidden_size": 8, "num_layers": 1},
    "hybrid": {"d_model": 8, "num_heads": 2, "num_conv_layers": 1, "num_attention_layers": 1},
    "csdi": {"model_dim": 8, "num_heads": 2, "num_layers": 1, "dropout": 0.0, "patch_size": 2},
}
ARCH_PARAMS["ensemble"] = {
    "models": ["cnn", "rnn"],
    "model_params": {"cnn": ARCH_PARAMS["cnn"], "rnn": ARCH_PARAMS["rnn"]},
}
PRE_PARAMS = {
    "raw": {},
    "wavelet": {"wavelet": "haar", "level": 2},
    "fourier": {},
    "technical": {
        "ma_windows": [3],
        "rsi_window": 5,
        "bollinger_window": 5,
        "volatility_window": 5,
        "macd_spans": [3, 6, 3],
    },
    "multi_scale": {"scales": [1, 3]},
}
ARCHITECTURES = Registry.list("architecture")
PREPROCESSINGS = Registry.list("preprocessing")
NUM_SAMPLES = 4


def params(table, name):
    """Tiny parameters for a known component; a component added later runs with its defaults."""
    accepted = Registry.parameters("architecture" if table is ARCH_PARAMS else "preprocessing", name)
    return {k: v for k, v in table.get(name, {}).items() if k in accepted or name == "ensemble"}


def synthetic(n, dim, length=36, freq="h", seed=0):
    rng = np.random.default_rng(seed)
    data = []
    for i in range(n):
        t = np.arange(length + 2 * i)
        shape = (len(t),) if dim == 1 else (dim, len(t))
        target = 10 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, shape)
        data.append({"start": pd.Period("2021-01-01", freq), "target": target.astype(np.float32), "item_id": str(i)})
    return data


def train_and_forecast(tmp_path, architecture, preprocessing, data, prediction_length, target_dim, freq="h", **kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("preprocessing_kwargs", params(PRE_PARAMS, preprocessing))
    estimator = DiffusionEstimator(
        freq=freq,
        prediction_length=prediction_length,
        context_length=2 * prediction_length if prediction_length >= 6 else 12,
        preprocessing=preprocessing,
        architecture=architecture,
        architecture_kwargs=params(ARCH_PARAMS, architecture),
        sampler_kwargs={"num_steps": 2},
        lags_seq=[1, 2],
        target_dim=target_dim,
        num_parallel_samples=NUM_SAMPLES,
        batch_size=4,
        num_batches_per_epoch=1,
        ema_decay=None,
        trainer_kwargs={
            "max_epochs": 1,
            "default_root_dir": str(tmp_path),
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "enable_checkpointing": True,
            "logger": False,
            "accelerator": "cpu",
        },
        **kwargs,
    )
    predictor = estimator.train(data)
    forecasts = list(predictor.predict(data, num_samples=NUM_SAMPLES))
    expected = (NUM_SAMPLES, prediction_length) if target_dim == 1 else (NUM_SAMPLES, prediction_length, target_dim)
    assert len(forecasts) == len(data)
    for entry, forecast in zip(data, forecasts):
        assert forecast.samples.shape == expected
        assert np.isfinite(forecast.samples).all()
        assert forecast.start_date == entry["start"] + entry["target"].shape[-1]
    return forecasts


@pytest.mark.parametrize("preprocessing", PREPROCESSINGS)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_univariate(tmp_path, architecture, preprocessing):
    train_and_forecast(tmp_path, architecture, preprocessing, synthetic(3, 1), prediction_length=6, target_dim=1)


@pytest.mark.parametrize("preprocessing", PREPROCESSINGS)
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_multivariate(tmp_path, architecture, preprocessing):
    train_and_forecast(tmp_path, architecture, preprocessing, synthetic(2, 3), prediction_length=6, target_dim=3)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_wavelet_with_an_odd_prediction_length(tmp_path, architecture):
    # db2 at level 2 extends the 7-step window to 8 steps and diffuses 8 coefficients
    forecasts = train_and_forecast(
        tmp_path,
        architecture,
        "wavelet",
        synthetic(3, 1),
        prediction_length=7,
        target_dim=1,
        preprocessing_kwargs={"wavelet": "db2", "level": 2},
    )
    assert forecasts[0].samples.shape == (NUM_SAMPLES, 7)


# --------------------------------------------------------------------------- real data
def test_real_univariate_m4_hourly_slice(tmp_path, data_dir):
    from gluonts_diffusion.data.datasets import load_dataset

    data = load_dataset("m4_hourly", data_dir, max_series=3)
    train_and_forecast(tmp_path, "transformer", "wavelet", data.train, data.prediction_length, 1, freq=data.freq)


def test_real_multivariate_exchange_rate_grouped(tmp_path, data_dir):
    from gluonts_diffusion.data.datasets import load_dataset

    data = load_dataset("exchange_rate_nips", data_dir, multivariate=True)
    assert data.target_dim == 8
    train = [
        {**entry, "target": entry["target"][:, -200:], "start": entry["start"] + (entry["target"].shape[1] - 200)}
        for entry in data.train
    ]
    train_and_forecast(tmp_path, "cnn", "raw", train, data.prediction_length, data.target_dim, freq=data.freq)
