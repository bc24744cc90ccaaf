"""The package keeps its shape: layers import downwards only, files and functions stay short.

Layers, lowest first: ``core`` <- ``components`` <- ``data`` <- ``model`` <- ``experiments`` <- the CLIs
(``run``, ``compare``, ``search``, ``registry``, ...) and the package root. Every import counts, including
imports inside functions.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gluonts_diffusion"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
LAYERS = {"version": 0, "trust": 0, "core": 0, "components": 1, "data": 2, "model": 3, "experiments": 4}
TOP = 5  # CLIs and the package root


def modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if ".venv" not in p.parts)


def dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def imported(path: Path):
    """Absolute names of every gluonts_diffusion module ``path`` imports (relative imports resolved)."""
    package = dotted(path) if path.name == "__init__.py" else dotted(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        yield from (name for name in names if name.startswith("gluonts_diffusion"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_downwards_only(path):
    own = dotted(path)
    for name in imported(path):
        assert layer(name) <= layer(own), f"{own} (layer {layer(own)}) imports {name} (layer {layer(name)})"
        parts = name.split(".")
        if own.startswith("gluonts_diffusion.core"):
            assert parts[:2] != ["gluonts_diffusion", "components"], f"core module {own} imports component {name}"
        private = [i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")]
        if private:
            owner = ".".join(parts[: private[0]])
            assert own == owner or own.startswith(owner + "."), f"{own} imports the private module {name}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_and_functions_stay_short(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path.name}:{node.lineno} {node.name}() is {length} lines"
