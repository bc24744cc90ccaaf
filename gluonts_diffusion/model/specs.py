"""Turning ``{kind: {"name", "params", "module"}}`` specs into components, with clear errors.

A spec records the module defining each component, so a saved predictor whose components come from another
package deserializes without that package being imported first.
"""

import importlib
import importlib.util
from typing import Any, Dict, Mapping, Optional, Tuple

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.base import COMPONENT_KINDS
from gluonts_diffusion.core.registry import Registry, RegistryError
from gluonts_diffusion.trust import check_import

from .migrations import CHANGED_DEFAULTS

#: the components a default estimator uses (the estimator's signature defaults read them)
DEFAULT_COMPONENTS: Dict[str, str] = {
    "preprocessing": "raw",
    "architecture": "transformer",
    "noise": "standard",
    "sde": "vpsde",
    "objective": "denoising",
    "sampler": "dpm",
}


class ComponentError(ValueError):
    """A component that cannot be built (``kind`` names it) or a combination that cannot work (``kind`` None)."""

    def __init__(self, kind: Optional[str], reason: str) -> None:
        super().__init__(f"{kind}: {reason}" if kind else reason)
        self.kind, self.reason = kind, reason


def component_spec(
    names: Mapping[str, Optional[str]], params: Mapping[str, Optional[Mapping[str, Any]]]
) -> Dict[str, Dict[str, Any]]:
    """JSON-able ``{kind: {"name", "params", "module"}}`` from per-kind names (default
    :data:`DEFAULT_COMPONENTS`) and parameter dicts.

    The one check of a component choice, for the estimator and the config validator alike: every component is
    built once here (the architecture without its data shapes), so an unknown name, a wrong parameter, a bad
    value or an incompatible pair raises :class:`ComponentError` before any data is read.
    """
    spec, built = {}, {}
    for kind in COMPONENT_KINDS:
        name = names.get(kind) or DEFAULT_COMPONENTS[kind]
        kwargs = dict(params.get(kind) or {})
        try:
            built[kind] = Registry.get(kind, name, **kwargs)
        except (RegistryError, ValueError) as err:
            raise ComponentError(kind, str(err)) from None
        for _, changed, parameter, _ in CHANGED_DEFAULTS:  # written out, so a later default cannot change it
            if name == changed and parameter not in kwargs:
                kwargs[parameter] = getattr(built[kind], parameter)
        spec[kind] = {"name": name, "params": kwargs, "module": type(built[kind]).__module__}
    check_compatible(built)
    return spec


def build_component(kind: str, entry: Mapping[str, Any]) -> Any:
    """The component ``entry`` (``{"name", "params"[, "module"]}``) describes. A name the registry does not
    know is looked up again after importing the recorded ``module``, when that module can be imported and its
    package is allowed (:mod:`gluonts_diffusion.trust`: a saved file must not run code the user did not allow)."""
    name, module = entry["name"], entry.get("module")
    if module and name not in Registry.list(kind) and _importable(module):
        check_import(module, f"the {kind} {name!r} of a saved model", trusted=("gluonts_diffusion.",))
        importlib.import_module(module)
    return Registry.get(kind, name, **entry.get("params", {}))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or the name is not a module name
        return False


def build_components(
    spec: Mapping[str, Mapping[str, Any]], shapes: ArchitectureShapes, prebuilt: Optional[Mapping[str, Any]] = None
) -> Dict[str, Any]:
    """Instantiate every component of ``spec`` not in ``prebuilt``, in :data:`COMPONENT_KINDS` order; the
    architecture is built for ``shapes`` right away (so parameters are initialised in that order)."""
    built = dict(prebuilt or {})
    for kind in COMPONENT_KINDS:
        if kind not in built:
            built[kind] = build_component(kind, spec[kind])
            if kind == "architecture":
                built[kind].build(shapes)
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
        raise ComponentError(None, "incompatible components: " + "; ".join(reasons))
