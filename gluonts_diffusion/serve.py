"""``python -m gluonts_diffusion.serve --model DIR [--host 127.0.0.1] [--port 8080] [--workers N] [--freq F]``.

Serves a saved predictor over HTTP with GluonTS's SageMaker-style inference API (``GET /ping``,
``POST /invocations``; see :mod:`gluonts_diffusion.serving.http`) under gunicorn (needs ``pip install ".[serve]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gluonts_diffusion.serve", description=__doc__.split("\n\n")[1])
    parser.add_argument("--model", required=True, type=Path, help="folder of a serialized predictor")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (each serves one request)")
    parser.add_argument(
        "--freq", help="frequency of requests that do not give configuration.freq (default: the model's)"
    )
    parser.add_argument(
        "--timeout", type=int, default=100, help="seconds a request may take before its worker restarts"
    )
    parser.add_argument("--max-payload-mb", type=int, default=6, help="largest request body accepted")
    return parser


def gunicorn_application(app: Any, options: Dict[str, Any]) -> Any:
    """A gunicorn application running the WSGI ``app`` with ``options`` (gunicorn's settings)."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    return Application()


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1 or not 0 < args.port < 65536:
        print(f"--workers must be >= 1 and --port in 1..65535, got {args.workers} and {args.port}", file=sys.stderr)
        return 2
    from gluonts_diffusion.model.predictor import load_predictor
    from gluonts_diffusion.serving.http import make_app

    try:  # load_predictor checks what the folder names before anything is imported (GluonTS's loader does not)
        predictor = load_predictor(args.model)
    except Exception as err:  # a missing folder, a truncated file, an edited or refused config
        print(f"cannot load the predictor in {args.model}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    app = make_app(predictor, freq=args.freq, max_content_length=args.max_payload_mb * 1024 * 1024)
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers,
        "timeout": args.timeout,
        "preload_app": True,  # the predictor is loaded once, before the workers fork
    }
    gunicorn_application(app, options).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
