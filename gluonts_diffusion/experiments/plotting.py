"""Fan charts of forecasts against the truth (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .scoring import sample_paths


def plot_forecasts(
    forecasts: Sequence, series: Sequence, path: Path, num_series: int = 4, history: int = 4, title: str = ""
) -> Path:
    """Save a PNG with ``num_series`` panels: the last ``history`` horizons of the series, the median
    forecast and its 50% and 90% intervals. Multivariate forecasts show their first dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = min(num_series, len(forecasts))
    fig, axes = plt.subplots(count, 1, figsize=(10, 2.6 * count), squeeze=False)
    for ax, forecast, ts in zip(axes[:, 0], forecasts, series):
        horizon = forecast.prediction_length
        values = np.asarray(ts)
        values = values[:, 0] if values.ndim > 1 else values
        values = values[-(history + 1) * horizon :]
        steps = np.arange(len(values))
        ax.plot(steps, values, color="black", lw=1, label="truth")
        paths = sample_paths(forecast)
        samples = paths if paths.ndim == 2 else paths[..., 0]
        future = steps[-horizon:]
        for low, high, alpha in ((5, 95, 0.2), (25, 75, 0.4)):
            lo, hi = np.percentile(samples, [low, high], axis=0)
            ax.fill_between(future, lo, hi, color="tab:blue", alpha=alpha, lw=0, label=f"{high - low}% interval")
        ax.plot(future, np.median(samples, axis=0), color="tab:blue", lw=1.2, label="median")
        ax.set_title(f"{title} item {forecast.item_id}" if title else f"item {forecast.item_id}", fontsize=9)
    axes[0, 0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
