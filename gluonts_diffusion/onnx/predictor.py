"""``OnnxPredictor``: a GluonTS predictor running an exported diffusion forecaster with onnxruntime and numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
from gluonts.dataset import Dataset
from gluonts.dataset.loader import InferenceDataLoader
from gluonts.model.forecast import Forecast
from gluonts.model.forecast_generator import SampleForecastGenerator, to_numpy
from gluonts.model.predictor import Predictor
from gluonts.transform import Transformation

from .files import load_metadata, load_transformation
from .noise import NoiseSource, Seed

#: runs the exported graph: ``{input name: array} -> samples (batch, num_samples, prediction_length[, dim])``
Runner = Callable[[Dict[str, np.ndarray]], np.ndarray]


@to_numpy.register(np.ndarray)
def _identity(x: np.ndarray) -> np.ndarray:
    return x


def stack(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Batch transformed entries: arrays stacked, other fields (start, item_id, ...) as lists."""
    return {
        key: np.stack([row[key] for row in rows]) if isinstance(rows[0][key], np.ndarray) else [r[key] for r in rows]
        for key in rows[0]
    }


def onnx_runner(path: Union[str, Path], providers: Optional[Sequence[str]] = None, threads: int = 0) -> Runner:
    """A :data:`Runner` over an ONNX Runtime session of ``path`` (CPU unless ``providers`` say otherwise;
    ``threads`` intra-op threads, 0 = ONNX Runtime's default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=list(providers or ["CPUExecutionProvider"]))

    def run(inputs: Dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, inputs)[0]

    return run


class NoisyNet:
    """The prediction net GluonTS's forecast generator calls: adds the noise to the prepared inputs and runs the
    graph; ``net(**inputs)`` gives ``(batch, num_samples, prediction_length[, dim])``."""

    def __init__(self, run: Runner, noise: NoiseSource) -> None:
        self.run, self.noise = run, noise

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        arrays = {name: np.asarray(value, dtype=np.float32) for name, value in inputs.items()}
        arrays["noise"] = self.noise.draw(arrays["past_target"].shape[0])
        return self.run(arrays)


class OnnxPredictor(Predictor):
    """Forecasts of an exported model (:func:`gluonts_diffusion.model.export.export_model`) without torch.

    ``predict(dataset, num_samples=None)`` yields one ``SampleForecast`` per series (its ``start`` and
    ``item_id`` as the torch predictor gives them): GluonTS's transformation chain builds the inputs, numpy
    draws the noise, onnxruntime runs the whole sampler. ``num_samples`` beyond the exported samples per call
    repeat the call, as GluonTS's torch predictors do.

    Args:
        run: the exported graph (:func:`onnx_runner`).
        metadata: the folder's ``model.json``.
        input_transform: GluonTS transformation giving the inputs (``input_transform.json``).
        seed: int or ``numpy.random.Generator`` for the noise (None: fresh entropy).
        batch_size: series per call (default: the torch predictor's).
    """

    def __init__(
        self,
        run: Runner,
        metadata: Dict[str, Any],
        input_transform: Transformation,
        seed: Seed = None,
        batch_size: Optional[int] = None,
    ) -> None:
        super().__init__(prediction_length=metadata["prediction_length"])
        self.metadata = metadata
        self.freq = metadata.get("freq")
        self.input_transform = input_transform
        self.input_names = list(metadata["inputs"])
        self.batch_size = int(batch_size or metadata["batch_size"])
        self.noise = NoiseSource.from_metadata(metadata, seed)
        self.net = NoisyNet(run, self.noise)

    @classmethod
    def load(
        cls,
        path: Union[str, Path],
        seed: Seed = None,
        batch_size: Optional[int] = None,
        providers: Optional[Sequence[str]] = None,
        threads: int = 0,
    ) -> OnnxPredictor:
        """The predictor of an exported folder (``model.onnx``, ``model.json``, ``input_transform.json``)."""
        meta = load_metadata(path)
        run = onnx_runner(Path(path) / "model.onnx", providers, threads)
        return cls(run, meta, load_transformation(path), seed=seed, batch_size=batch_size)

    def predict(self, dataset: Dataset, num_samples: Optional[int] = None, **kwargs) -> Iterator[Forecast]:
        loader = InferenceDataLoader(
            dataset, transform=self.input_transform, batch_size=self.batch_size, stack_fn=stack
        )
        yield from SampleForecastGenerator()(
            inference_data_loader=loader,
            prediction_net=self.net,
            input_names=self.input_names,
            output_transform=None,
            num_samples=num_samples,
        )
