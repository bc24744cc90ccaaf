"""The mixin every component derives from: compatibility notes and checks."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple


class Component:
    """Mixin: a component may refuse a combination with a one-line reason."""

    compatibility: str = "works with every other component"
    #: constructor parameters the model sets (from the data); users do not pass them
    filled_by_model: Tuple[str, ...] = ()

    def check_compatibility(self, components: Dict[str, Any]) -> Optional[str]:
        """Return why this component cannot run together with ``components`` (kind -> instance), else None."""
        return None
