"""Torch-free forecasting: :class:`OnnxPredictor` runs a model exported by
:func:`gluonts_diffusion.model.export.export_model` with onnxruntime and numpy only.

Nothing here imports torch, so ``from gluonts_diffusion.onnx import OnnxPredictor`` works where torch is not
installed (``pip install gluonts onnxruntime``).
"""

from .files import load_metadata, load_transformation
from .noise import NoiseSource
from .predictor import OnnxPredictor

__all__ = ["NoiseSource", "OnnxPredictor", "load_metadata", "load_transformation"]
