"""Plain numpy/torch arrays and history/future items as GluonTS datasets (gluonts_diffusion.data)."""

import numpy as np
import pandas as pd
import pytest
import tiny
import torch

from gluonts_diffusion import forecast_arrays, from_arrays, from_history_future, to_arrays


def tiny_estimator(trainer_kwargs, **kwargs):
    defaults = dict(
        freq="D", prediction_length=5, context_length=10, num_parallel_samples=4, batch_size=8, num_batches_per_epoch=2
    )
    return tiny.tiny_estimator(trainer_kwargs, **{**defaults, **kwargs})


def sine(length, features, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    return (5 + np.sin(2 * np.pi * t / 7 + np.arange(features)) + 0.1 * rng.normal(size=(length, features))).astype(
        np.float32
    )


# --------------------------------------------------------------------------- from_arrays / to_arrays
@pytest.mark.parametrize("features", [1, 3])
def test_round_trip_numpy_and_torch(features):
    arrays = [sine(30, features, seed=0), torch.from_numpy(sine(22, features, seed=1))]
    dataset = from_arrays(arrays, freq="D", start="2021-03-01")
    assert len(dataset) == 2
    expected_shape = (30,) if features == 1 else (features, 30)
    assert dataset[0]["target"].shape == expected_shape
    assert dataset[0]["start"] == pd.Period("2021-03-01", "D")
    assert [e["item_id"] for e in dataset] == ["0", "1"]
    back = to_arrays(dataset)
    np.testing.assert_array_equal(back[0], arrays[0])
    np.testing.assert_array_equal(back[1], arrays[1].numpy())


def test_input_forms():
    one = from_arrays(np.arange(12.0))  # (T,) -> one univariate series
    assert len(one) == 1 and one[0]["target"].shape == (12,)
    numbers = from_arrays([1.0, 2.0, 3.0])  # a list of numbers is one series
    assert len(numbers) == 1 and numbers[0]["target"].tolist() == [1.0, 2.0, 3.0]
    stack = from_arrays(np.zeros((4, 10, 2)), item_ids=list("abcd"))  # (N, T, F)
    assert [e["target"].shape for e in stack] == [(2, 10)] * 4 and stack[3]["item_id"] == "d"
    split = from_arrays(np.zeros((10, 3)), multivariate=False)  # every feature its own series
    assert [e["item_id"] for e in split] == ["0_0", "0_1", "0_2"] and split[0]["target"].shape == (10,)
    forced = from_arrays(np.zeros((10, 1)), multivariate=True)
    assert forced[0]["target"].shape == (1, 10)
    offsets = from_arrays([np.zeros(5), np.zeros(5)], freq="h", start=[0, 3])  # integer starts: step offsets
    assert offsets[1]["start"] - offsets[0]["start"] == 3 * offsets[0]["start"].freq
    with_nan = from_arrays(np.array([1.0, np.nan, 3.0]))
    assert np.isnan(with_nan[0]["target"][1])


def test_bad_inputs():
    with pytest.raises(ValueError, match="same number of features"):
        from_arrays([np.zeros((5, 2)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match="sequence_length"):
        from_arrays([np.zeros((2, 2, 2))])
    with pytest.raises(ValueError, match="starts"):
        from_arrays([np.zeros(3)] * 2, start=["2020-01-01"])


# --------------------------------------------------------------------------- history / future items
class ItemDataset(torch.utils.data.Dataset):
    """A PyTorch map-style dataset whose items are dicts with history, future and metadata."""

    def __init__(self, n, features, history=40, horizon=5):
        self.items = [
            {
                "history": torch.from_numpy(sine(history + i, features, seed=i)),
                "future": torch.from_numpy(sine(horizon, features, seed=100 + i)),
                "metadata": {"start": f"2022-01-{i + 1:02d}", "freq": "D", "item_id": f"s{i}"},
            }
            for i in range(n)
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


@pytest.mark.parametrize("features", [1, 2])
def test_history_future_items_build_train_and_test(features):
    items = ItemDataset(3, features)
    data = from_history_future(items)
    assert data.freq == "D" and data.prediction_length == 5 and data.target_dim == features
    for i, (train, test) in enumerate(zip(data.train, data.test)):
        item = items[i]
        assert train["item_id"] == test["item_id"] == f"s{i}"
        assert train["start"] == test["start"] == pd.Period(f"2022-01-{i + 1:02d}", "D")
        np.testing.assert_array_equal(to_arrays([train])[0], item["history"].numpy())
        np.testing.assert_array_equal(to_arrays([test])[0], np.concatenate([item["history"], item["future"]]))


def test_history_future_tuples_and_errors():
    data = from_history_future([(np.zeros(20), np.ones(4)), (np.zeros(25), np.ones(4), {"item_id": "x"})], freq="h")
    assert data.prediction_length == 4 and data.target_dim == 1 and data.test[1]["item_id"] == "x"
    assert data.test[0]["target"].shape == (24,)
    with pytest.raises(ValueError, match="same length"):
        from_history_future([(np.zeros(20), np.ones(4)), (np.zeros(20), np.ones(3))])
    with pytest.raises(ValueError, match="disagree"):
        from_history_future(
            [{"history": np.zeros(5), "metadata": {"freq": "D"}}, {"history": np.zeros(5), "metadata": {"freq": "h"}}]
        )
    with pytest.raises(ValueError, match="history"):
        from_history_future([{"past": np.zeros(5)}])


def test_items_without_a_future_are_forecast_not_scored():
    items = [
        {"history": np.arange(20.0), "future": np.ones(4), "metadata": {"item_id": "scored"}},
        {"history": np.arange(30.0), "metadata": {"item_id": "forecast_only"}},
        (np.arange(25.0), None),
    ]
    data = from_history_future(items, freq="D")
    assert [e["item_id"] for e in data.train] == ["scored", "forecast_only", "2"]  # every history trains
    # only the item with a future is scored: its last 4 steps are the future, not history
    assert [e["item_id"] for e in data.test] == ["scored"] and data.prediction_length == 4
    np.testing.assert_array_equal(data.test[0]["target"], np.concatenate([np.arange(20.0), np.ones(4)]))
    assert [e["item_id"] for e in data.predict] == ["forecast_only", "2"]
    np.testing.assert_array_equal(data.predict[0]["target"], np.arange(30.0))
    # no item with a future: nothing to score, everything to forecast
    history_only = from_history_future([(np.zeros(10), None), (np.ones(12), None)], freq="D", prediction_length=3)
    assert history_only.test == [] and len(history_only.predict) == 2 and history_only.prediction_length == 3


# --------------------------------------------------------------------------- the same estimator trains from both worlds
def test_estimator_trains_and_predicts_from_arrays(trainer_kwargs):
    arrays = [sine(60 + 5 * i, 1, seed=i) for i in range(6)]
    dataset = from_arrays(arrays, freq="D")
    torch.manual_seed(0)
    predictor = tiny_estimator(trainer_kwargs).train(dataset)
    samples = forecast_arrays(predictor.predict(dataset, num_samples=4))
    assert len(samples) == 6
    assert all(s.shape == (4, 5, 1) and np.isfinite(s).all() for s in samples)


def test_estimator_trains_and_predicts_from_history_future_items(trainer_kwargs):
    from gluonts.evaluation import MultivariateEvaluator, make_evaluation_predictions

    data = from_history_future(ItemDataset(4, 2, history=40))
    torch.manual_seed(0)
    estimator = tiny_estimator(trainer_kwargs, prediction_length=data.prediction_length, target_dim=data.target_dim)
    predictor = estimator.train(data.train)
    forecasts, series = make_evaluation_predictions(data.test, predictor, num_samples=4)
    forecasts, series = list(forecasts), list(series)
    assert len(forecasts) == 4
    assert all(f.samples.shape == (4, 5, 2) and np.isfinite(f.samples).all() for f in forecasts)
    # the forecast covers the future of each item
    assert forecasts[0].start_date == data.test[0]["start"] + 40
    metrics, _ = MultivariateEvaluator(quantiles=[0.5], target_agg_funcs={"sum": np.sum}, num_workers=0)(
        series, forecasts
    )
    assert np.isfinite(metrics["m_sum_mean_wQuantileLoss"])
