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
