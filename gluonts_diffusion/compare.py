"""``python -m gluonts_diffusion.compare --configs a.yaml b.yaml [--datasets ...] [--baselines ...] [--seeds 0 1 2]``.

Runs every config on every dataset with every seed, and the chosen GluonTS baselines, on identical
splits; writes ``leaderboard.md``/``.csv``/``.json``, ``crps.png`` and fan charts under ``--output``.
Each finished run is saved at once under ``<output>/runs/``: ``--resume`` skips those already done.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from gluonts_diffusion.cli import configure_logging, options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gluonts_diffusion.compare", description=__doc__.split("\n\n")[1])
    parser.add_argument("--configs", nargs="+", required=True, help="experiment YAML files")
    parser.add_argument("--datasets", nargs="+", help="run every config on these datasets (default: each config's own)")
    parser.add_argument(
        "--baselines",
        nargs="*",
        default=["seasonal_naive"],
        help="GluonTS baselines: seasonal_naive deepar simple_feedforward patch_tst (univariate data), i_transformer "
        "(multivariate data) (default: seasonal_naive; none: --baselines)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (default: 0)")
    parser.add_argument("--dataset-path", help="folder of datasets in GluonTS's on-disk layout")
    parser.add_argument(
        "--output", default="experiments/leaderboard", help="output folder (default experiments/leaderboard)"
    )
    parser.add_argument("--resume", action="store_true", help="skip runs already finished in --output")
    parser.add_argument("--epochs", type=int, help="override training.max_epochs of every config (and the baselines)")
    parser.add_argument("--num-samples", type=int, help="override evaluation.num_samples")
    parser.add_argument(
        "--select-on",
        choices=["validation"],
        help="train every config with validation windows and mark each dataset's best config on them "
        "(val_mean_wQuantileLoss); the test columns then report that choice",
    )
    parser.add_argument(
        "--debug", action="store_true", help="fast smoke pass: 1 epoch of 2 batches, 8 series, 20 samples; verbose logs"
    )
    return parser


#: ``compare()`` arguments given by the flags of the same name
COMPARE_OPTIONS = (
    "datasets",
    "baselines",
    "seeds",
    "dataset_path",
    "resume",
    "debug",
    "epochs",
    "num_samples",
    "select_on",
)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.debug)
    from gluonts_diffusion.experiments.config import ConfigError
    from gluonts_diffusion.experiments.leaderboard import compare

    try:
        board = compare(args.configs, output_dir=args.output, **options(args, COMPARE_OPTIONS))
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(open(board.paths["markdown"]).read())
    for kind, path in board.paths.items():
        print(f"{kind}: {path}")
    if board.failed:
        print(
            f"{len(board.failed)} run(s) failed; see the 'Failed runs' section and {args.output}/runs/", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
