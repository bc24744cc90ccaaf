"""The mixin every component derives from: compatibility notes and checks; validation of closed choices."""

from __future__ import annotations

from typing import Any, Dict, Optional, get_args


class Component:
    """Mixin: a component may refuse a combination with a one-line reason."""

    compatibility: str = "works with every other component"

    def check_compatibility(self, components: Dict[str, Any]) -> Optional[str]:
        """Return why this component cannot run together with ``components`` (kind -> instance), else None."""
        return None


def check_choice(name: str, value: Any, choices: Any) -> None:
    """Raise ``ValueError`` naming the options unless ``value`` is one of the ``Literal[...]`` type ``choices``."""
    allowed = get_args(choices)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (``20``, ``20.0``; not ``20.5``, ``"big"`` or ``True``) of at
    least ``minimum``; else ``ValueError`` naming ``name``."""
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
