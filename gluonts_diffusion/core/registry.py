"""The component registry: every pluggable piece is found by ``(kind, name)``.

``@Registry.register("sde", "vpsde")`` adds a class; ``Registry.get(kind, name, **params)``
builds one, naming any unknown kind, name or parameter together with the known ones.

The registry imports nothing: kinds are declared by their base classes (``core/base.py`` for the six
component kinds, ``experiments/base.py`` for ``experiment``) and members by their decorators. The
package root (``gluonts_diffusion/__init__.py``) imports the built-in component packages, the experiment
base module and the ``gluonts_diffusion.components`` entry points, so every kind and built-in is
registered whenever anything under ``gluonts_diffusion`` is imported, and a failing import is raised.
"""

from __future__ import annotations

import inspect as _inspect
from typing import Any, Callable, Dict, List, TypeVar

#: a registered class, returned unchanged by :meth:`Registry.register`
ComponentClass = TypeVar("ComponentClass", bound=type)


class RegistryError(KeyError):
    """A lookup or registration the registry refuses; the message says why."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class Registry:
    """Class-level registry of component classes, keyed by kind then name."""

    _bases: Dict[str, type] = {}
    _components: Dict[str, Dict[str, type]] = {}

    @classmethod
    def add_kind(cls, kind: str, base: type) -> None:
        """Declare a component kind whose members must subclass ``base``."""
        if kind in cls._bases and cls._bases[kind] is not base:
            raise RegistryError(f"kind {kind!r} is already declared")
        cls._bases[kind] = base
        cls._components.setdefault(kind, {})

    @classmethod
    def kinds(cls) -> List[str]:
        """Sorted names of the declared kinds."""
        return sorted(cls._bases)

    @classmethod
    def _check_kind(cls, kind: str) -> None:
        if kind not in cls._bases:
            raise RegistryError(f"unknown component kind {kind!r}; known kinds: {', '.join(sorted(cls._bases))}")

    @classmethod
    def register(cls, kind: str, name: str) -> Callable[[ComponentClass], ComponentClass]:
        """Class decorator adding ``component`` under ``kind``/``name`` (the class is returned unchanged, with
        ``registry_kind`` and ``registry_name`` set)."""

        def decorator(component: ComponentClass) -> ComponentClass:
            cls._check_kind(kind)
            base = cls._bases[kind]
            if not (isinstance(component, type) and issubclass(component, base)):
                raise RegistryError(
                    f"{getattr(component, '__name__', component)!r} cannot be registered as "
                    f"{kind} {name!r}: it does not derive from {base.__name__}"
                )
            existing = cls._components[kind].get(name)
            if existing is not None and existing is not component:
                raise RegistryError(
                    f"{kind} {name!r} is already registered (by {existing.__module__}.{existing.__name__})"
                )
            cls._components[kind][name] = component
            labelled: Any = component  # any class can carry its registry labels
            labelled.registry_name, labelled.registry_kind = name, kind
            return component

        return decorator

    @classmethod
    def list(cls, kind: str) -> List[str]:
        """Sorted names registered under ``kind``."""
        cls._check_kind(kind)
        return sorted(cls._components[kind])

    @classmethod
    def get_class(cls, kind: str, name: str) -> type:
        cls._check_kind(kind)
        try:
            return cls._components[kind][name]
        except KeyError:
            known = ", ".join(sorted(cls._components[kind])) or "(none)"
            raise RegistryError(f"unknown {kind} {name!r}; known {kind} components: {known}") from None

    @classmethod
    def parameters(cls, kind: str, name: str) -> Dict[str, Any]:
        """Constructor parameters of a component and their defaults (``inspect.Parameter.empty`` if required)."""
        component = cls.get_class(kind, name)
        return {
            p.name: p.default
            for p in _inspect.signature(component).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

    @classmethod
    def check_params(cls, kind: str, name: str, params: Dict[str, Any]) -> None:
        """Raise naming each parameter that ``kind``/``name`` does not accept, or a required one missing."""
        accepted = cls.parameters(kind, name)
        component = cls.get_class(kind, name)
        takes_any = any(p.kind == p.VAR_KEYWORD for p in _inspect.signature(component).parameters.values())
        unknown = [k for k in params if k not in accepted]
        if unknown and not takes_any:
            allowed = ", ".join(accepted) or "(none)"
            raise RegistryError(
                f"{kind} {name!r} has no parameter {', '.join(map(repr, unknown))}; accepted: {allowed}"
            )
        missing = [k for k, d in accepted.items() if d is _inspect.Parameter.empty and k not in params]
        if missing:
            raise RegistryError(f"{kind} {name!r} needs parameter {', '.join(map(repr, missing))}")

    @classmethod
    def get(cls, kind: str, name: str, **params: Any) -> Any:
        """Build the component ``kind``/``name`` with ``params``."""
        component = cls.get_class(kind, name)
        cls.check_params(kind, name, params)
        try:
            return component(**params)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{kind} {name!r}: {err}") from err

    @classmethod
    def inspect(cls, kind: str, name: str) -> Dict[str, Any]:
        """Signature, defaults, docstring and compatibility notes of one component."""
        component = cls.get_class(kind, name)
        params = {
            k: "<required>" if v is _inspect.Parameter.empty else v for k, v in cls.parameters(kind, name).items()
        }
        return {
            "kind": kind,
            "name": name,
            "class": f"{component.__module__}.{component.__qualname__}",
            "signature": f"{name}{_inspect.signature(component)}",
            "parameters": params,
            "doc": _inspect.getdoc(component) or "",
            "compatibility": getattr(component, "compatibility", "works with every other component"),
        }
