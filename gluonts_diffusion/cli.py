"""What the command lines (``compare``, ``search``) share: logging setup and passing options through."""

from __future__ import annotations

import argparse
import logging
from typing import Any, Dict, Sequence


def configure_logging(debug: bool) -> None:
    """Log records as ``LEVEL logger: message``: DEBUG and up with ``--debug``, else INFO and up."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def options(args: argparse.Namespace, names: Sequence[str]) -> Dict[str, Any]:
    """The parsed ``names`` of ``args`` as keyword arguments (command-line flags named like the function's arguments)."""
    return {name: getattr(args, name) for name in names}


def callable_as(module_name: str, target: str) -> None:
    """Make the module ``module_name`` (a command's ``__name__``) callable as the function ``target``
    (``"package.module:function"``, imported on the first call), so ``gluonts_diffusion.distill(...)`` works
    whether the package attribute is the lazy function or, once the command's module is imported, the module."""
    import importlib
    import sys
    import types

    module_path, function = target.split(":")

    class CallableModule(types.ModuleType):
        __doc__ = f"This module, callable as {target}."

        def __call__(self, *args, **kwargs):
            return getattr(importlib.import_module(module_path), function)(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
