"""Prediction wall time against ``predict_batch_size`` (untrained weights: timing does not depend on training).

Builds the quickstart-sized predictor of each architecture on m4_hourly without training it, and times
``predictor.predict`` (unseeded, batched; fully consumed, after one warm-up batch) on the first
``--num-series`` test series x ``--num-samples`` samples for every batch size. A script, not a test.

    OMP_NUM_THREADS=1 python evaluation/bench_batch_size.py --dataset-path ../shared/datasets --threads 1
"""

from __future__ import annotations

import time

import torch
from common import timing_parser, untrained_predictor

from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path


def seconds(predictor, inputs, num_samples: int) -> float:
    list(predictor.predict(inputs[: predictor.batch_size], num_samples=num_samples))  # warm-up batch
    start = time.perf_counter()
    forecasts = list(predictor.predict(inputs, num_samples=num_samples))
    elapsed = time.perf_counter() - start
    assert len(forecasts) == len(inputs) and forecasts[-1].samples.shape[0] == num_samples
    return elapsed


def main(argv=None):
    p = timing_parser(__doc__, num_series=64)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[2, 4, 8, 16, 64])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset("m4_hourly", resolve_data_path(args.dataset_path))
    pl = data.prediction_length
    inputs = [{**entry, "target": entry["target"][:-pl]} for entry in data.test[: args.num_series]]
    print(f"{len(inputs)} series x {args.num_samples} samples, torch threads {torch.get_num_threads()}")
    print("| architecture | " + " | ".join(f"batch {b}" for b in args.batch_sizes) + " |")
    print("|---" * (len(args.batch_sizes) + 1) + "|")
    for architecture in args.architectures:
        cells = []
        for batch_size in args.batch_sizes:
            predictor = untrained_predictor(
                args.config, args.dataset_path, data, architecture, predict_batch_size=batch_size
            )
            cells.append(f"{seconds(predictor, inputs, args.num_samples):.2f} s")
        print(f"| {architecture} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
