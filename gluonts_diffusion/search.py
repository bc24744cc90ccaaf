"""``python -m gluonts_diffusion.search --base-config base.yaml --search-config search.yaml``.

Optuna search over dotted paths of the base config (grid, choice, uniform, loguniform, int ranges);
the study lives in ``--storage`` (default: SQLite under the output folder), so rerunning resumes it and
several workers can share it. Writes ``trials.csv``, ``best_config.yaml`` and ``best.json``.
See :mod:`gluonts_diffusion.experiments.search` for the search config format.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from gluonts_diffusion.cli import configure_logging, options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gluonts_diffusion.search", description=__doc__.split("\n\n")[1])
    parser.add_argument("--base-config", required=True, help="experiment YAML the trials start from")
    parser.add_argument("--search-config", required=True, help="search YAML: study settings and parameter ranges")
    parser.add_argument("--storage", help="Optuna storage URL (default sqlite:///<output>/study.db)")
    parser.add_argument("--study-name", help="study name (default: study.name or <experiment>_search)")
    parser.add_argument("--n-trials", type=int, help="total trial budget (default: study.n_trials)")
    parser.add_argument("--dataset-path", help="folder of datasets in GluonTS's on-disk layout")
    parser.add_argument("--output", help="output folder (default: study.output_dir or experiments/search/<study>)")
    parser.add_argument("--validate-only", action="store_true", help="check both configs and exit")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="tiny trials (1 epoch of 2 batches, 8 series, 20 samples), at most 3 unless --n-trials; verbose logs",
    )
    return parser


#: ``run_search()`` arguments given by the flags of the same name
SEARCH_OPTIONS = ("storage", "study_name", "n_trials", "dataset_path", "debug")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.debug)
    from gluonts_diffusion.experiments.config import ConfigError, validate_config
    from gluonts_diffusion.experiments.search import run_search, validate_search_config

    try:  # validated once: here with --validate-only, else by run_search
        if args.validate_only:
            search = validate_search_config(args.search_config, validate_config(args.base_config))
            print(
                f"{args.base_config} + {args.search_config}: valid ({search['study']['sampler']} Optuna sampler, "
                f"{len(search['parameters'])} parameters, {search['study']['n_trials']} trials)"
            )
            return 0
        result = run_search(
            args.base_config, args.search_config, output_dir=args.output, **options(args, SEARCH_OPTIONS)
        )
    except ConfigError as err:
        print(f"invalid config: {err}", file=sys.stderr)
        return 2
    print(f"study {result.study_name} ({result.storage}): {result.n_complete} complete, {result.n_failed} failed")
    if result.best_value is not None:
        print(f"best {result.metric} = {result.best_value:.6g} with {result.best_params}")
    for kind, path in result.paths.items():
        print(f"{kind}: {path}")
    return 0 if result.n_complete else 1


if __name__ == "__main__":
    sys.exit(main())
