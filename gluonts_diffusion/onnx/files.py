"""Reading an exported model's folder: ``model.json`` and the GluonTS transformation in ``input_transform.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Union

from gluonts.core import serde
from gluonts.transform import Transformation

from gluonts_diffusion.trust import check_serde_file

#: the model.json format this package reads
FORMAT = "gluonts-diffusion-onnx/1"
#: classes input_transform.json may name (GluonTS's transformations and time features, numpy dtypes, and this
#: package's torch-free input checks)
ALLOWED_CLASSES = ("gluonts.transform.", "gluonts.time_feature.", "numpy.", "gluonts_diffusion.data.checks.")


def load_metadata(folder: Union[str, Path]) -> Dict[str, Any]:
    """``model.json`` of an exported model, with its format checked."""
    path = Path(folder) / "model.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: export the model with export_model(predictor, {str(folder)!r})")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}; export the model again")
    return meta


def load_transformation(folder: Union[str, Path]) -> Transformation:
    """The GluonTS transformation chain of ``input_transform.json``; refuses a file naming any class outside
    GluonTS's transformations and time features (loading it would import and run that code)."""
    return serde.load_json(check_serde_file(Path(folder) / "input_transform.json", ALLOWED_CLASSES))
