"""Loading GluonTS datasets by name, offline from a folder or through GluonTS's normal download.

:func:`load_dataset` gives the train/test split (:class:`ForecastData`); :func:`dataset_metadata` only the
``freq``, ``prediction_length`` and ``target_dim`` a config may leave to the dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union
from urllib.error import URLError

#: environment variable naming a folder of datasets in GluonTS's on-disk layout
DATA_ENV = "GLUONTS_DIFFUSION_DATA"


@dataclass
class ForecastData:
    """Train/test split of one dataset as the estimator sees it."""

    name: str
    train: List[dict]
    test: List[dict]
    freq: str
    prediction_length: int
    target_dim: int = 1


def resolve_data_path(*candidates: Optional[str]) -> Optional[Path]:
    """First given folder among ``candidates`` (CLI flag, config), then ``$GLUONTS_DIFFUSION_DATA``."""
    for candidate in (*candidates, os.environ.get(DATA_ENV)):
        if candidate:
            return Path(candidate).expanduser()
    return None


def check_dataset(name: str, path: Union[str, Path, None] = None) -> Optional[Path]:
    """The folder of ``name`` under ``path`` when it is there in GluonTS's on-disk layout, else None for a GluonTS
    repository name (downloaded or prepared by GluonTS); ``FileNotFoundError`` when it is neither. Reads no data."""
    from gluonts.dataset.repository.datasets import dataset_recipes

    from .synthetic import SYNTHETIC_DATASETS

    path = Path(path).expanduser() if path is not None else None
    folder = path / name if path is not None else None
    if folder is not None and (folder / "metadata.json").exists():
        return folder
    if name in dataset_recipes or name in SYNTHETIC_DATASETS:
        return None
    if path is not None:
        known = sorted(p.name for p in path.iterdir() if (p / "metadata.json").exists()) if path.exists() else []
        raise FileNotFoundError(
            f"dataset {name!r} is neither in {str(path)!r} (which holds: {', '.join(known) or 'nothing'}) "
            f"nor a GluonTS repository name"
        )
    raise FileNotFoundError(
        f"unknown dataset {name!r}: not a GluonTS repository name; give a folder with --dataset-path, "
        f"data.path or ${DATA_ENV}"
    )


def check_horizon(name: str, prediction_length: int, horizon: int) -> int:
    """``prediction_length`` when it is at most the dataset's ``horizon``; else ``DataError``: the test windows of a
    GluonTS dataset are ``horizon`` steps past the training series, so a longer window would score training data."""
    from .checks import DataError

    if prediction_length > horizon:
        raise DataError(
            f"prediction_length {prediction_length} is longer than dataset {name}'s horizon {horizon}: its test "
            f"windows would overlap the training data; use prediction_length <= {horizon} (the dataset's horizon) "
            f"or a dataset split of your own"
        )
    return prediction_length


def load_dataset(
    name: str,
    path: Union[str, Path, None] = None,
    prediction_length: Optional[int] = None,
    multivariate: bool = False,
    max_series: Optional[int] = None,
    with_test: bool = True,
) -> ForecastData:
    """Load ``name`` from ``path`` (GluonTS on-disk layout) or, without a path, by GluonTS's download.

    A folder under ``path`` that is not a GluonTS recipe name (e.g. ``bitcoin_daily``) loads too, and so does
    a synthetic dataset name (:data:`~gluonts_diffusion.data.synthetic.SYNTHETIC_DATASETS`, generated, no files).
    ``multivariate`` groups all series into one target of shape (num_series, T) (``MultivariateGrouper``).

    ``prediction_length`` (default: the dataset's horizon) may be shorter than the horizon: each test entry
    is then scored on its last ``prediction_length`` steps, the rest of the dataset's test window being
    history the forecast conditions on. A longer one is refused (``DataError``): the scored window would
    reach back into the training data.

    ``with_test=False`` does not read the test split at all (``test`` is empty): what a run that chooses
    (a search trial, scored on validation windows only) loads.
    """
    from gluonts.dataset.common import load_datasets
    from gluonts.dataset.repository import get_dataset

    from .synthetic import SYNTHETIC_DATASETS

    folder = check_dataset(name, path)
    if folder is None and name in SYNTHETIC_DATASETS:
        dataset = SYNTHETIC_DATASETS[name]()
    elif folder is not None:
        dataset = load_datasets(folder, folder / "train", folder / "test" if with_test else None)
    else:
        try:
            dataset = get_dataset(name, path=path) if path is not None else get_dataset(name)
        except URLError as err:
            raise ConnectionError(
                f"dataset {name!r} could not be downloaded ({err.reason}); offline, pass --dataset-path DIR "
                f"or set ${DATA_ENV} to a folder holding it"
            ) from None
    metadata = dataset.metadata
    freq = metadata.freq
    pred_len = check_horizon(name, int(prediction_length or metadata.prediction_length), metadata.prediction_length)
    train, test = list(dataset.train), list(dataset.test) if with_test and dataset.test is not None else []
    if max_series:  # test entries are the rolling windows of each training series, window after window
        test = [entry for i, entry in enumerate(test) if i % len(train) < max_series]
        train = train[:max_series]
    if multivariate:
        from gluonts.dataset.multivariate_grouper import MultivariateGrouper

        dim = len(train)
        num_test_dates = len(test) // dim
        train = list(MultivariateGrouper(max_target_dim=dim)(train))
        test = list(MultivariateGrouper(max_target_dim=dim, num_test_dates=num_test_dates)(test)) if test else []
        return ForecastData(name, train, test, freq, pred_len, target_dim=dim)
    return ForecastData(name, train, test, freq, pred_len)


def dataset_metadata(name: str, path: Union[str, Path, None] = None, multivariate: bool = False) -> dict:
    """``freq``, ``prediction_length`` and ``target_dim`` of a dataset, from its metadata.json when on disk."""
    import json

    folder = check_dataset(name, path)
    if folder is not None and not multivariate:
        meta = json.loads((folder / "metadata.json").read_text())
        return {"freq": meta["freq"], "prediction_length": int(meta["prediction_length"]), "target_dim": 1}
    data = load_dataset(name, path, multivariate=multivariate)
    return {"freq": data.freq, "prediction_length": data.prediction_length, "target_dim": data.target_dim}
