"""What a config or a saved file may make this package import: GluonTS, numpy and this package, and other
packages only where the user allows them.

Configs, saved predictors and exported models are data; importing a module they name runs that module's code.
So every such import is checked first: a name outside the trusted prefixes needs its top-level package allowed
from a shell (``GLUONTS_DIFFUSION_ALLOW_IMPORTS=my_pkg,other``) or from code (``with allowed_imports("my_pkg"):``),
never from the data itself. Standard library only, so the torch-free ONNX predictor uses it too.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, List, Sequence, Set, Union

#: environment variable listing the top-level packages a config or a saved file may name
ALLOW_IMPORTS_ENV = "GLUONTS_DIFFUSION_ALLOW_IMPORTS"
#: classes a saved predictor may name without an opt-in
TRUSTED = ("gluonts.", "gluonts_diffusion.", "numpy.")
_allowed: List[str] = []  # packages allowed from code, by :func:`allowed_imports`


class UntrustedImport(ValueError):
    """Data names code to import that the user has not allowed; the message says how to allow it."""


@contextlib.contextmanager
def allowed_imports(*packages: str) -> Iterator[None]:
    """Within the block, configs and saved files may name modules of these top-level ``packages``
    (``with allowed_imports("my_pkg"): load_predictor(path)``)."""
    _allowed.extend(packages)
    try:
        yield
    finally:
        for package in packages:
            _allowed.remove(package)


def allowed_packages() -> Set[str]:
    """Top-level packages allowed now: :func:`allowed_imports` blocks and ``$GLUONTS_DIFFUSION_ALLOW_IMPORTS``."""
    from_env = (name.strip() for name in os.environ.get(ALLOW_IMPORTS_ENV, "").split(","))
    return set(_allowed) | {name for name in from_env if name}


def opt_in(package: str) -> str:
    """How to allow ``package``, for the end of an error line."""
    return f"opt in with {ALLOW_IMPORTS_ENV}={package} (or `with allowed_imports({package!r})` in code)"


def check_import(name: str, where: str, trusted: Sequence[str] = ()) -> None:
    """Raise :class:`UntrustedImport` unless the dotted ``name`` starts with a ``trusted`` prefix or its
    top-level package is allowed; nothing is imported."""
    package = name.split(".")[0].split(":")[0]
    if not name.startswith(tuple(trusted)) and package not in allowed_packages():
        raise UntrustedImport(
            f"{where} names {name!r}: importing {package!r} from data is not allowed; {opt_in(package)}"
        )


def named_classes(node: Any) -> Iterator[str]:
    """Every ``"class"`` a GluonTS serde JSON document names (instances, types and functions alike)."""
    if isinstance(node, dict):
        if isinstance(node.get("class"), str):
            yield node["class"]
        for value in node.values():
            yield from named_classes(value)
    elif isinstance(node, list):
        for value in node:
            yield from named_classes(value)


def check_serde_file(path: Union[str, Path], trusted: Sequence[str] = TRUSTED) -> str:
    """The text of the serde JSON file ``path`` once every class it names is trusted or allowed (GluonTS's
    decoder imports each of them); raises :class:`UntrustedImport` naming the file and the class otherwise."""
    text = Path(path).read_text()
    try:
        document = json.loads(text)
    except ValueError:
        return text  # not JSON: the decoder reports it
    for name in named_classes(document):
        check_import(name, str(path), trusted)
    return text
