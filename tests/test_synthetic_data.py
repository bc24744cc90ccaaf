"""The synthetic intermittent-count dataset: seeded, zero-heavy with bursts, split the GluonTS way, loadable by name."""

import numpy as np

from gluonts_diffusion.data.datasets import check_dataset, load_dataset
from gluonts_diffusion.data.synthetic import intermittent_counts


def targets(split):
    return [entry["target"] for entry in split]


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = intermittent_counts(seed=3), intermittent_counts(seed=3), intermittent_counts(seed=4)
    for x, y in zip(targets(a.test), targets(b.test)):
        np.testing.assert_array_equal(x, y)
    assert [e["start"] for e in a.train] == [e["start"] for e in b.train]
    assert any(len(x) != len(z) or not np.array_equal(x, z) for x, z in zip(targets(a.test), targets(c.test)))


def test_counts_are_mostly_zero_with_bursts():
    data = intermittent_counts()
    values = np.concatenate(targets(data.test))
    assert (values >= 0).all() and np.array_equal(values, np.round(values))
    assert 0.6 <= float((values == 0).mean()) <= 0.8  # "about 70% zeros"
    for target in targets(data.train):  # a burst in every training history: >= 5 times the typical demand
        assert target.max() >= 5 * np.median(target[target > 0])


def test_shapes_freq_and_gluonts_split():
    data = intermittent_counts(num_series=7, prediction_length=5, min_length=20, max_length=30)
    assert data.metadata.freq == "W" and data.metadata.prediction_length == 5
    assert len(data.train) == len(data.test) == 7
    for train, test in zip(data.train, data.test):
        assert 20 <= len(train["target"]) <= 30 and train["target"].dtype == np.float32
        assert len(test["target"]) == len(train["target"]) + 5 and test["start"] == train["start"]
        np.testing.assert_array_equal(test["target"][: len(train["target"])], train["target"])
        assert train["start"].freqstr.startswith("W")


def test_loaded_by_name_without_files(tmp_path):
    assert check_dataset("synthetic_intermittent", tmp_path) is None
    data = load_dataset("synthetic_intermittent", tmp_path, max_series=3)
    assert (data.freq, data.prediction_length, len(data.train), len(data.test)) == ("W", 8, 3, 3)
    assert len(data.test[0]["target"]) == len(data.train[0]["target"]) + 8
