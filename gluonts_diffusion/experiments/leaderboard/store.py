"""The ``runs/`` folder of a comparison: one JSON record per run, written atomically as each run ends."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from .plan import RunSpec


def json_default(value: Any) -> Any:
    """JSON for numpy scalars (``.item()``) and anything else (``str``)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def clean_metrics(metrics: Mapping[str, Any]) -> Dict[str, Optional[float]]:
    """Numeric metrics as floats, non-finite ones as None (JSON has no NaN); other values dropped."""
    out: Dict[str, Optional[float]] = {}
    for key, value in metrics.items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        out[key] = value if math.isfinite(value) else None
    return out


class RunStore:
    """``<output_dir>/runs/<run id>.json``; ``load`` returns None for a missing or unreadable record."""

    def __init__(self, output_dir: Path) -> None:
        self.folder = Path(output_dir) / "runs"
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, spec: RunSpec) -> Path:
        return self.folder / f"{spec.run_id}.json"

    def load(self, spec: RunSpec) -> Optional[Dict[str, Any]]:
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def done(self, spec: RunSpec) -> Optional[Dict[str, Any]]:
        """The record of ``spec`` if it finished ``ok`` with the same effective config, else None."""
        record = self.load(spec)
        if record and record.get("status") == "ok" and record.get("config_hash") == spec.config_hash:
            return record
        return None

    def write(self, record: Dict[str, Any]) -> Path:
        path = self.folder / f"{record['run_id']}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, default=json_default))
        tmp.replace(path)
        return path
