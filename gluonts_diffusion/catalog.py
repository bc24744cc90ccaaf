"""``python -m gluonts_diffusion.catalog list [KIND]`` and ``python -m gluonts_diffusion.catalog inspect KIND NAME``.

Lists the registered components (preprocessing, architecture, noise, sde, objective, sampler) and
experiment types, or prints one entry's signature, defaults, docstring and compatibility notes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from gluonts_diffusion.core.registry import Registry, RegistryError


def _flags(default) -> argparse.ArgumentParser:
    """The flags every command takes, before or after it (after it, unset flags keep the value given before)."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--debug", action="store_true", default=default, help="full tracebacks, class of every entry")
    flags.add_argument("--json", action="store_true", default=default, help="machine-readable output")
    return flags


def build_parser() -> argparse.ArgumentParser:
    flags = _flags(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="python -m gluonts_diffusion.catalog", description=__doc__.split("\n\n")[1], parents=[_flags(False)]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="registered names, per kind", parents=[flags])
    listing.add_argument("kind", nargs="?", help="only this kind")
    inspect = sub.add_parser(
        "inspect", help="signature, defaults, docstring and compatibility of one entry", parents=[flags]
    )
    inspect.add_argument("kind")
    inspect.add_argument("name")
    return parser


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    try:
        if args.command == "list":
            kinds = [args.kind] if args.kind else Registry.kinds()
            listing = {kind: Registry.list(kind) for kind in kinds}
            if args.json:
                print(json.dumps(listing, indent=2))
                return 0
            for kind, names in listing.items():
                print(f"{kind}:")
                for name in names:
                    info = Registry.inspect(kind, name)
                    extra = f"  [{info['class']}]" if args.debug else ""
                    print(f"  {name:<18} {_first_line(info['doc'])}{extra}")
            return 0
        info = Registry.inspect(args.kind, args.name)
    except RegistryError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info, indent=2, default=repr))
        return 0
    print(f"{info['kind']} {info['name']}  ({info['class']})")
    print(f"signature: {info['signature']}")
    print("parameters:")
    for key, value in info["parameters"].items():
        print(f"  {key} = {value!r}" if value != "<required>" else f"  {key} (required)")
    print(f"compatibility: {info['compatibility']}")
    if info["doc"]:
        print()
        print(info["doc"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
