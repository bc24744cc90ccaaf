"""Finding components: every module of a components subpackage, and installed packages' entry points.

A built-in subpackage's ``__init__`` calls ``import_submodules(__name__, __path__)``, so adding a component
is one new file. Another package ships components by declaring an entry point in the group
:data:`ENTRY_POINT_GROUP` (``my_pkg = my_pkg.components``), whose module registers them on import.
"""

import importlib
import pkgutil
from importlib.metadata import entry_points
from typing import Iterable

#: entry-point group through which other packages register components
ENTRY_POINT_GROUP = "gluonts_diffusion.components"


def import_submodules(package_name: str, package_path: Iterable[str]) -> None:
    """Import every public (not ``_``-prefixed) module of a package; import errors propagate."""
    for module in pkgutil.iter_modules(package_path):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package_name}.{module.name}")


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> None:
    """Import (``load``) every entry point of ``group``; import errors propagate."""
    for entry_point in entry_points(group=group):
        entry_point.load()
