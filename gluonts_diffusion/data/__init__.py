"""Data adapters: plain numpy/torch arrays and history/future items as GluonTS datasets."""

from .arrays import HistoryFutureData, forecast_arrays, from_arrays, from_history_future, to_arrays

__all__ = ["HistoryFutureData", "forecast_arrays", "from_arrays", "from_history_future", "to_arrays"]
