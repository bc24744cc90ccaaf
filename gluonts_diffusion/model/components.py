"""Turning ``{kind: {"name": ..., "params": {...}}}`` specs into components, with clear errors."""

from typing import Any, Dict, Mapping, Optional, Tuple

from gluonts_diffusion.core.base import COMPONENT_KINDS
from gluonts_diffusion.core.registry import Registry, RegistryError

#: the components a default estimator uses
DEFAULT_COMPONENTS: Dict[str, str] = {
    "preprocessing": "raw",
    "architecture": "transformer",
    "noise": "standard",
    "sde": "vpsde",
    "objective": "denoising",
    "sampler": "ddim",
}


def component_spec(
    names: Mapping[str, Optional[str]], params: Mapping[str, Optional[Mapping[str, Any]]]
) -> Dict[str, Dict[str, Any]]:
    """JSON-able ``{kind: {"name", "params"}}`` from per-kind names and parameter dicts, validated."""
    spec = {}
    for kind in COMPONENT_KINDS:
        name = names.get(kind) or DEFAULT_COMPONENTS[kind]
        kwargs = dict(params.get(kind) or {})
        Registry.check_params(kind, name, kwargs)
        spec[kind] = {"name": name, "params": kwargs}
    return spec


def build_components(
    spec: Mapping[str, Mapping[str, Any]], prebuilt: Optional[Mapping[str, Any]] = None, **architecture_shapes
) -> Dict[str, Any]:
    """Instantiate every component of ``spec`` not in ``prebuilt``; the architecture also gets ``architecture_shapes``."""
    built = dict(prebuilt or {})
    for kind in COMPONENT_KINDS:
        if kind in built:
            continue
        entry = spec[kind]
        extra = architecture_shapes if kind == "architecture" else {}
        built[kind] = Registry.get(kind, entry["name"], **entry.get("params", {}), **extra)
    return built


def compatibility_errors(components: Mapping[str, Any]) -> Tuple[str, ...]:
    """One-line reasons why these component instances cannot work together (empty if they can)."""
    reasons = []
    for kind in COMPONENT_KINDS:
        if kind not in components:
            continue
        reason = components[kind].check_compatibility(dict(components))
        if reason:
            reasons.append(f"{kind} {components[kind].registry_name!r}: {reason}")
    return tuple(reasons)


def check_compatible(components: Mapping[str, Any]) -> None:
    reasons = compatibility_errors(components)
    if reasons:
        raise RegistryError("incompatible components: " + "; ".join(reasons))
