"""``DiffusionPredictor``: the GluonTS predictor of a trained diffusion model, saved and loaded safely.

It is a :class:`PyTorchPredictor` that also knows its ``freq`` (so whoever forecasts with it never repeats it),
records the package version beside GluonTS's in ``gluonts-config.json``, and on :meth:`~DiffusionPredictor.deserialize`
turns every broken folder (a missing, empty or truncated file, an edited ``predictor.json``, another major
version) into one line naming the file and what to do. ``predict(..., seed=S)`` gives every series its own
generator, seeded from ``S`` and the series itself, so a forecast does not depend on the batch it is in.
"""

import functools
import hashlib
import json
import warnings
from collections import deque
from pathlib import Path
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Union

import numpy as np
import torch
from gluonts.core.component import validated
from gluonts.core.serde import load_json
from gluonts.dataset.common import Dataset
from gluonts.dataset.loader import InferenceDataLoader
from gluonts.model.forecast import Forecast
from gluonts.model.forecast_generator import ForecastGenerator, SampleForecastGenerator
from gluonts.model.predictor import OutputTransform
from gluonts.torch.batchify import batchify
from gluonts.torch.model.predictor import PyTorchPredictor
from gluonts.transform import SelectFields, Transformation

from gluonts_diffusion.trust import UntrustedImport, check_serde_file
from gluonts_diffusion.version import __version__

from .lightning_module import DiffusionLightningModule
from .migrations import migrate_spec

CONFIG, SPEC, WEIGHTS = "gluonts-config.json", "predictor.json", "prediction-net-state.pt"
AGAIN = "serialize the predictor again (predictor.serialize(path))"


class SavedPredictorError(ValueError):
    """A saved predictor that cannot be loaded: the message names the file and what to do."""


class MissingPredictorFile(FileNotFoundError):
    """A file of a saved predictor is missing: the message names it and what to do."""


def series_seed(seed: int, entry: Dict[str, Any]) -> int:
    """The seed of one series' generator: a hash of ``seed``, its ``item_id``, ``start`` and target values,
    so it does not depend on the series' position, its batch or the worker that forecasts it."""
    digest = hashlib.sha256(f"{seed}|{entry.get('item_id')}|{entry.get('start')}|".encode())
    digest.update(np.ascontiguousarray(entry["target"], dtype=np.float32).tobytes())
    return int.from_bytes(digest.digest()[:8], "little") >> 1  # < 2**63: any torch.Generator accepts it


class _PerSeriesSampling:
    """The network called one series at a time, each with its own generator (seeds in input order)."""

    def __init__(self, net: torch.nn.Module, seeds: Deque[int], num_samples: int, device: torch.device) -> None:
        self.net, self.seeds, self.num_samples, self.device = net, seeds, num_samples, device

    def __call__(self, **inputs: torch.Tensor) -> torch.Tensor:
        rows = next(iter(inputs.values())).shape[0]
        samples = []
        for j in range(rows):
            generator = torch.Generator(device=self.device).manual_seed(self.seeds.popleft())
            one = {name: value[j : j + 1] for name, value in inputs.items()}
            samples.append(self.net(**one, num_parallel_samples=self.num_samples, generator=generator))
        return torch.cat(samples)


class DiffusionPredictor(PyTorchPredictor):
    """A :class:`PyTorchPredictor` of a :class:`DiffusionLightningModule` that stores its ``freq``.

    Args:
        freq: the pandas frequency the model was trained for (``None`` only for predictors saved before it
            was recorded).
        the rest: as :class:`PyTorchPredictor`.
    """

    @validated()
    def __init__(
        self,
        input_names: List[str],
        prediction_net: torch.nn.Module,
        batch_size: int,
        prediction_length: int,
        input_transform: Transformation,
        freq: Optional[str] = None,
        forecast_generator: ForecastGenerator = SampleForecastGenerator(),  # noqa: B008  (as GluonTS)
        output_transform: Optional[OutputTransform] = None,
        lead_time: int = 0,
        device: Union[str, torch.device] = "auto",
    ) -> None:
        super().__init__(
            input_names=input_names,
            prediction_net=prediction_net,
            batch_size=batch_size,
            prediction_length=prediction_length,
            input_transform=input_transform,
            forecast_generator=forecast_generator,
            output_transform=output_transform,
            lead_time=lead_time,
            device=device,
        )
        self.freq = freq

    @classmethod
    def from_predictor(
        cls, predictor: PyTorchPredictor, prediction_net: Optional[torch.nn.Module] = None, **changes: Any
    ) -> "DiffusionPredictor":
        """``predictor`` (e.g. an older plain ``PyTorchPredictor``) as a ``DiffusionPredictor``, with another
        ``prediction_net`` and/or other constructor arguments (``freq``, ``batch_size``, ...)."""
        arguments = dict(
            input_names=predictor.input_names,
            prediction_net=prediction_net if prediction_net is not None else predictor.prediction_net,
            batch_size=predictor.batch_size,
            prediction_length=predictor.prediction_length,
            input_transform=predictor.input_transform,
            freq=getattr(predictor, "freq", None),
            forecast_generator=predictor.forecast_generator,
            output_transform=predictor.output_transform,
            lead_time=predictor.lead_time,
            device=predictor.device,
        )
        return cls(**{**arguments, **changes})

    # ------------------------------------------------------------------ forecasting
    def predict(  # type: ignore[override]
        self, dataset: Dataset, num_samples: Optional[int] = None, seed: Optional[int] = None
    ) -> Iterator[Forecast]:
        """Forecasts of every series of ``dataset``, in order.

        Without ``seed`` this is :meth:`PyTorchPredictor.predict` (batched sampling from torch's global
        generator). With ``seed`` each series is sampled with its own generator, seeded by
        :func:`series_seed`: the same series gets the same forecast in any batch, order or process. Sampling
        runs under ``torch.no_grad`` (not ``inference_mode``: tensors a component caches while predicting,
        such as a noise's Cholesky factor, must stay usable for training).
        """
        seeds: Deque[int] = deque()
        loader = InferenceDataLoader(
            dataset if seed is None else _recording_seeds(dataset, seed, seeds),
            transform=self.input_transform + SelectFields(self.input_names + self.required_fields, allow_missing=True),
            batch_size=self.batch_size,
            stack_fn=lambda data: batchify(data, self.device),
        )
        if seed is None:
            net: Any = self.prediction_net
            if self.output_transform is not None and num_samples:  # a calibration rescales around the median
                net = functools.partial(net, num_parallel_samples=num_samples)  # of all paths, as it was fitted
        else:
            net = _PerSeriesSampling(self.prediction_net, seeds, num_samples or self.num_parallel_samples, self.device)
        self.prediction_net.eval()
        with torch.no_grad():
            yield from self.forecast_generator(
                inference_data_loader=loader,
                prediction_net=net,
                input_names=self.input_names,
                output_transform=self.output_transform,
                num_samples=num_samples if seed is None else None,
            )

    @property
    def num_parallel_samples(self) -> int:
        return int(self.prediction_net.hparams["model_kwargs"]["num_parallel_samples"])

    @property
    def calibration(self) -> Optional[Dict[str, Any]]:
        """The post-hoc calibration applied to the sample paths (``model/calibration.py``; saved with the
        predictor as its ``output_transform``), described as a dict; None without one."""
        describe = getattr(self.output_transform, "describe", None)
        return describe() if callable(describe) else None

    @property
    def target_dim(self) -> int:
        """1 for univariate series, else the dimension of the multivariate target ``(target_dim, T)``."""
        return int(self.prediction_net.hparams["model_kwargs"]["target_dim"])

    # ------------------------------------------------------------------ saving and loading
    def serialize(self, path: Path) -> None:
        """Write the predictor into ``path`` (created if missing): GluonTS's files, the package version in
        ``gluonts-config.json``, and ``type.txt`` (GluonTS's fallback pointer to this class)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        super().serialize(path)
        config = json.loads((path / CONFIG).read_text())
        (path / CONFIG).write_text(json.dumps({**config, "gluonts_diffusion": __version__}))
        (path / "type.txt").write_text(config["type"])

    @classmethod
    def deserialize(  # type: ignore[override]
        cls, path: Path, device: Optional[Union[str, torch.device]] = None
    ) -> "DiffusionPredictor":
        """The predictor saved in ``path`` (also one saved as a plain ``PyTorchPredictor`` of a
        :class:`DiffusionLightningModule`); raises :class:`MissingPredictorFile` or
        :class:`SavedPredictorError` with one line naming the file and what to do, and warns when another
        version of the package wrote it."""
        path = Path(path)
        if not path.is_dir():
            raise MissingPredictorFile(f"{path} is not a folder: give the folder predictor.serialize(path) wrote")
        for name in (CONFIG, SPEC, WEIGHTS):
            if not (path / name).is_file():
                raise MissingPredictorFile(f"{path / name} is missing: copy the whole folder, or {AGAIN}")
        saved_version = check_version(path / CONFIG)
        predictor = _build(path / SPEC, saved_version)
        if device is not None:
            predictor.to(device)
        _load_weights(predictor.prediction_net, path / WEIGHTS, device)
        return predictor


def load_predictor(path: Union[str, Path], device: Optional[Union[str, torch.device]] = None) -> DiffusionPredictor:
    """The predictor saved in ``path`` (see :meth:`DiffusionPredictor.deserialize`)."""
    return DiffusionPredictor.deserialize(Path(path), device=device)


def _recording_seeds(dataset: Iterable[Dict[str, Any]], seed: int, seeds: Deque[int]) -> Iterator[Dict[str, Any]]:
    for entry in dataset:
        seeds.append(series_seed(seed, entry))
        yield entry


def _first_line(err: BaseException) -> str:
    """The gist of ``err`` on one line: its first line that is not a heading, up to its first sentence."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    line = next((line for line in lines if not line.endswith(":")), lines[0])
    return line.split(". ")[0].rstrip(".")


def check_version(config_path: Path) -> Optional[str]:
    """Refuse a predictor written by another major version of the package; warn on another minor one.
    Returns the version that wrote it (None: not recorded)."""
    try:
        saved = json.loads(config_path.read_text()).get("gluonts_diffusion")
    except (ValueError, AttributeError) as err:
        raise SavedPredictorError(f"{config_path} is not a GluonTS config ({_first_line(err)}): {AGAIN}") from None
    if saved is None or saved == __version__:
        return saved  # saved before the version was recorded, or by this version
    if str(saved).split(".")[0] != __version__.split(".")[0]:
        raise SavedPredictorError(
            f"{config_path} was written by gluonts-diffusion {saved}, this is {__version__}: another major "
            f"version cannot load it; install gluonts-diffusion=={saved} or train the model again"
        )
    warnings.warn(
        f"{config_path} was written by gluonts-diffusion {saved}, this is {__version__}: check its forecasts "
        f"and {AGAIN}",
        stacklevel=3,
    )
    return str(saved)


def _build(spec_path: Path, saved_version: Optional[str] = None) -> DiffusionPredictor:
    """The predictor ``predictor.json`` describes (without its weights), with the defaults of the version that
    saved it (:func:`~gluonts_diffusion.model.migrations.migrate_spec`)."""
    text = check_serde_file(spec_path)  # GluonTS's decoder imports every class the file names
    text = migrate_spec(text, saved_version)
    try:
        predictor = load_json(text)
    except UntrustedImport:  # a component module that is not allowed: its own line says how to allow it
        raise
    except Exception as err:  # any edit can fail anywhere in GluonTS's deserializer: name the file instead
        raise SavedPredictorError(
            f"{spec_path} does not build a predictor ({_first_line(err)}): undo the edit, or {AGAIN}"
        ) from err
    net = getattr(predictor, "prediction_net", None)
    if not isinstance(predictor, PyTorchPredictor) or not isinstance(net, DiffusionLightningModule):
        raise SavedPredictorError(
            f"{spec_path} is not a gluonts-diffusion predictor: load it with Predictor.deserialize"
        )
    return predictor if isinstance(predictor, DiffusionPredictor) else DiffusionPredictor.from_predictor(predictor)


def _load_weights(net: torch.nn.Module, weights: Path, device: Optional[Union[str, torch.device]]) -> None:
    if weights.stat().st_size == 0:
        raise SavedPredictorError(f"{weights} is empty: copy it again, or {AGAIN}")
    try:
        state = torch.load(weights, map_location=device, weights_only=True)
    except Exception as err:  # EOFError, zip or unpickling errors of a truncated or foreign file
        raise SavedPredictorError(
            f"{weights} cannot be read ({_first_line(err)}): the file is truncated or not a state dict; "
            f"copy it again, or {AGAIN}"
        ) from None
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise SavedPredictorError(
            f"{weights} does not fit the network in predictor.json ({_first_line(err)}): "
            f"save the two files together, or {AGAIN}"
        ) from None
