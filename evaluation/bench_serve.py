"""Latency of ``python -m gluonts_diffusion.serve``: one m4_hourly series, 100 sample paths, median of 20 requests.

The model is the quickstart configuration (transformer 64 x 4 heads x 2 layers, patch 4, context 192,
20 DDIM steps) trained for a few batches only: latency depends on the network and the sampler, not on
the weights. Run: ``python evaluation/bench_serve.py [--dataset-path DIR] [--workers N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import quiet_trainer

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.data.datasets import load_dataset
from gluonts_diffusion.serving.http import request_body, wait_until_ready

QUICKSTART = dict(
    context_length=192,
    architecture="transformer",
    architecture_kwargs={"model_dim": 64, "num_heads": 4, "num_layers": 2, "patch_size": 4},
    sde="vpsde",
    objective="denoising",
    objective_kwargs={"parameterization": "x0"},
    sampler="ddim",
    sampler_kwargs={"num_steps": 20},
    num_parallel_samples=100,
    batch_size=64,
    num_batches_per_epoch=5,
)


def post(url: str, body: dict) -> float:
    """Seconds one ``/invocations`` request takes, answer read."""
    data = json.dumps(body).encode()
    start = time.perf_counter()
    request = urllib.request.Request(f"{url}/invocations", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200 and len(json.loads(response.read())["predictions"]) == 1
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dataset-path", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    data = load_dataset("m4_hourly", args.dataset_path)
    with tempfile.TemporaryDirectory() as tmp:
        times = measure(data, Path(tmp), args.requests, args.workers)
    print(
        f"serve latency ({args.workers} worker(s)), 1 series x 100 samples, {len(data.test[0]['target'])} points "
        f"of history, {args.requests} requests: median {1000 * statistics.median(times):.0f} ms, "
        f"min {1000 * min(times):.0f} ms, max {1000 * max(times):.0f} ms"
    )


def measure(data, root: Path, requests: int, workers: int) -> list:
    """Seconds of each of ``requests`` requests to a server of the quickstart model trained in ``root``."""
    estimator = DiffusionEstimator(
        freq=data.freq,
        prediction_length=data.prediction_length,
        trainer_kwargs=quiet_trainer(1, str(root)),
        calibration=None,  # serving speed of the network alone
        **QUICKSTART,
    )
    (root / "model").mkdir()
    estimator.train(data.train).serialize(root / "model")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "gluonts_diffusion.serve", "--model", str(root / "model"), "--port", str(port)]
    command += ["--workers", str(workers)]
    server = subprocess.Popen(command, env=os.environ.copy(), stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, timeout=120, process=server)
        body = request_body(data.test[:1], freq=data.freq, num_samples=100, output_types=["mean", "quantiles"])
        post(url, body)  # warm-up
        return [post(url, body) for _ in range(requests)]
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
