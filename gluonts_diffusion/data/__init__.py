"""Data adapters: plain numpy/torch arrays and history/future items as GluonTS datasets; datasets by name.

The array adapters (:mod:`.arrays`, which needs pandas) load on first use, so that importing the package
stays light.
"""

from .datasets import ForecastData, dataset_metadata, load_dataset, resolve_data_path

#: names of :mod:`.arrays` available here
_ARRAY_NAMES = ("HistoryFutureData", "forecast_arrays", "from_arrays", "from_history_future", "to_arrays")


def __getattr__(name):
    if name in _ARRAY_NAMES:
        from . import arrays

        return getattr(arrays, name)
    raise AttributeError(name)


__all__ = ["ForecastData", "dataset_metadata", "load_dataset", "resolve_data_path", *_ARRAY_NAMES]
