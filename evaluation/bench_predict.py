"""Throughput of ``python -m gluonts_diffusion.predict`` on all m4_hourly test series (100 samples each).

Trains the quickstart architecture briefly (throughput does not depend on how well it is trained), saves it,
writes the test split as JSON lines and times the command end to end (process start and model load included):
locally unseeded (batched sampling), locally with ``--seed`` (one generator per series) and, when Ray is
installed, with ``--engine ray`` and 2 workers.

    python evaluation/bench_predict.py --dataset-path ../shared/datasets --output /tmp/bench_predict
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import quiet_trainer

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.data.datasets import load_dataset

ROOT = Path(__file__).resolve().parents[1]


def prepare(dataset_path: Path, output: Path, epochs: int) -> int:
    """Train and save the model into ``output/model``, write ``output/test.json``; the number of series."""
    dataset = load_dataset("m4_hourly", dataset_path)
    estimator = DiffusionEstimator(
        freq=dataset.freq,
        prediction_length=48,
        context_length=192,
        architecture_kwargs={"model_dim": 64, "num_heads": 4, "num_layers": 2, "patch_size": 4},
        objective_kwargs={"parameterization": "x0"},
        sampler_kwargs={"num_steps": 20},
        trainer_kwargs=quiet_trainer(epochs, str(output), enable_model_summary=False),
        num_batches_per_epoch=20,
        calibration=None,  # prediction speed of the network alone
    )
    estimator.train(dataset.train).serialize(output / "model")
    rows = [
        json.dumps({"item_id": str(entry["item_id"]), "start": str(entry["start"]), "target": entry["target"].tolist()})
        for entry in dataset.test
    ]
    (output / "test.json").write_text("\n".join(rows) + "\n")
    return len(rows)


def timed(output: Path, name: str, *flags: str) -> float:
    """Seconds one run of the command takes, writing ``output/<name>.json``."""
    command = [sys.executable, "-m", "gluonts_diffusion.predict", "--model", str(output / "model")]
    command += ["--input", str(output / "test.json"), "--output", str(output / f"{name}.json"), *flags]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-path", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--output", type=Path, default=Path("bench_predict"))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    count = prepare(args.dataset_path, args.output, args.epochs)
    runs = {"local": [], "local --seed 0": ["--seed", "0"]}
    try:
        import ray  # noqa: F401

        runs["ray, 2 workers, --seed 0"] = ["--seed", "0", "--engine", "ray", "--num-workers", "2"]
    except ImportError:
        pass
    for i, (name, flags) in enumerate(runs.items()):
        seconds = timed(args.output, f"run{i}", "--num-samples", "100", *flags)
        print(f"{name:28s} {count} series x 100 samples: {seconds:6.1f} s wall, {count / seconds:6.1f} series/s")
    same = (args.output / "run1.json").read_text() == (args.output / "run2.json").read_text() if len(runs) > 2 else None
    print(f"ray output identical to the local seeded output: {same}")


if __name__ == "__main__":
    main()
