"""Moved to :mod:`gluonts_diffusion.data.datasets` (below ``model``, which reads dataset metadata).

Kept only for the importers not yet updated (``leaderboard``, ``search``, ``evaluation/`` scripts, tests);
delete once they import from :mod:`gluonts_diffusion.data.datasets`.
"""

from gluonts_diffusion.data.datasets import DATA_ENV, ForecastData, dataset_metadata, load_dataset, resolve_data_path

__all__ = ["DATA_ENV", "ForecastData", "dataset_metadata", "load_dataset", "resolve_data_path"]
