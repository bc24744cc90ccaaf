"""What a predictor saved by an older gluonts-diffusion meant, said in this version's words.

A saved ``predictor.json`` records only the component parameters the user gave, so a changed default would
silently change what an old model is. Each entry of :data:`CHANGED_DEFAULTS` is a default that changed in a
version: a predictor saved before it (or before versions were recorded) gets the old value written in before it
is built. Since then :func:`~gluonts_diffusion.model.specs.component_spec` writes every parameter named here
into the spec, so the files it makes keep their meaning whatever the default becomes.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Tuple

#: (version that changed it, component name, parameter, the default before that version)
CHANGED_DEFAULTS: Tuple[Tuple[str, str, str, Any], ...] = (("0.2.0", "denoising", "parameterization", "eps"),)

#: (version that changed it, ``DiffusionModel`` argument (a key of ``model_kwargs``), the default before it)
CHANGED_MODEL_DEFAULTS: Tuple[Tuple[str, str, Any], ...] = (("0.4.0", "imputation_anchor", "none"),)


def _release(version: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


def migrate_spec(text: str, saved_version: Optional[str]) -> str:
    """``predictor.json``'s ``text`` with the old defaults a predictor of ``saved_version`` relied on made
    explicit (``None``: saved before the version was recorded); unchanged when nothing applies."""

    def before(version: str) -> bool:
        return saved_version is None or _release(saved_version) < _release(version)

    changes = [c for c in CHANGED_DEFAULTS if before(c[0])]
    model_changes = [c for c in CHANGED_MODEL_DEFAULTS if before(c[0])]
    if not changes and not model_changes:
        return text
    spec = json.loads(text)

    def fill(node: Any) -> bool:
        """Write the old defaults into ``node`` and below; whether anything was written."""
        filled = False
        if isinstance(node, dict):
            params = node.get("params")
            for _, name, parameter, old in changes:
                if node.get("name") == name and isinstance(params, dict) and parameter not in params:
                    params[parameter] = old
                    filled = True
            model_kwargs = node.get("model_kwargs")
            for _, parameter, old in model_changes if isinstance(model_kwargs, dict) else ():
                if parameter not in model_kwargs:
                    model_kwargs[parameter] = old
                    filled = True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for value in children:
            filled = fill(value) or filled
        return filled

    return json.dumps(spec) if fill(spec) else text
