"""Prediction wall time against ``predict_batch_size`` (untrained weights: timing does not depend on training).

Builds the quickstart-sized predictor of each architecture on m4_hourly without training it, and times
``predictor.predict`` (unseeded, batched; fully consumed, after one warm-up batch) on the first
``--num-series`` test series x ``--num-samples`` samples for every batch size. A script, not a test.

    OMP_NUM_THREADS=1 python evaluation/bench_batch_size.py --dataset-path ../shared/datasets --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path


def untrained_predictor(config: str, dataset_path, data, architecture: str, batch_size: int):
    overrides = {} if architecture == "transformer" else {"architecture": architecture, "architecture_kwargs": {}}
    estimator = DiffusionEstimator.from_config(
        config,
        dataset_path,
        freq=data.freq,
        prediction_length=data.prediction_length,
        predict_batch_size=batch_size,
        **overrides,
    )
    torch.manual_seed(0)
    return estimator.create_predictor(estimator.create_transformation(), estimator.create_lightning_module())


def seconds(predictor, inputs, num_samples: int) -> float:
    list(predictor.predict(inputs[: predictor.batch_size], num_samples=num_samples))  # warm-up batch
    start = time.perf_counter()
    forecasts = list(predictor.predict(inputs, num_samples=num_samples))
    elapsed = time.perf_counter() - start
    assert len(forecasts) == len(inputs) and forecasts[-1].samples.shape[0] == num_samples
    return elapsed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"))
    p.add_argument("--dataset-path")
    p.add_argument("--architectures", nargs="+", default=["transformer", "cnn"])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    p.add_argument("--num-series", type=int, default=64)
    p.add_argument("--num-samples", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
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
            predictor = untrained_predictor(args.config, args.dataset_path, data, architecture, batch_size)
            cells.append(f"{seconds(predictor, inputs, args.num_samples):.2f} s")
        print(f"| {architecture} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
