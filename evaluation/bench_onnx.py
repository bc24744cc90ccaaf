"""Prediction benchmark: one trained model forecast by torch and by ONNX Runtime (a script, not a test).

Trains the model of ``--config`` (default: the quickstart, for a short budget) on m4_hourly, exports it with
``gluonts_diffusion.model.export.export_model``, then backtests the torch predictor and the torch-free
``gluonts_diffusion.onnx.OnnxPredictor`` on the same test series (GluonTS transformation, sampler, inverse
transform: the whole prediction path) and prints wall time, series/s and CRPS as a Markdown table.

    python evaluation/bench_onnx.py --dataset-path ../shared/datasets                # 414 series x 100 samples
    python evaluation/bench_onnx.py --threads 2 --epochs 30 --num-batches-per-epoch 50
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from common import quiet_trainer, train_timed

from gluonts_diffusion import DiffusionEstimator
from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path
from gluonts_diffusion.experiments.scoring import score
from gluonts_diffusion.model.export import export_model
from gluonts_diffusion.onnx import OnnxPredictor


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"))
    parser.add_argument("--dataset", default="m4_hourly", help="a GluonTS dataset name")
    parser.add_argument("--dataset-path", help="folder of the datasets (default: GluonTS's download)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (timing needs a model, not a good one)")
    parser.add_argument("--num-batches-per-epoch", type=int, default=20, help="training batches per epoch")
    parser.add_argument("--num-series", type=int, default=414, help="test series forecast (414 = all of m4_hourly)")
    parser.add_argument("--num-samples", type=int, default=100, help="sample paths per series")
    parser.add_argument("--batch-size", type=int, default=64, help="series per prediction call")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of torch and of ONNX Runtime")
    parser.add_argument("--output", help="write the rows as JSON here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, resolve_data_path(args.dataset_path))
    test = data.test[: args.num_series]
    torch.manual_seed(0)
    sizes = {"num_parallel_samples": args.num_samples, "predict_batch_size": args.batch_size}
    sizes["num_batches_per_epoch"] = args.num_batches_per_epoch
    trainer = quiet_trainer(args.epochs, "/tmp/bench_onnx", accelerator="cpu")
    estimator = DiffusionEstimator.from_config(
        args.config,
        args.dataset_path,
        freq=data.freq,
        prediction_length=data.prediction_length,
        trainer_kwargs=trainer,
        calibration=None,  # the graph carries the network's forecasts, not a map
        **sizes,
    )
    predictor, train_seconds = train_timed(estimator, data.train)
    folder = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    start = time.perf_counter()
    export_model(predictor, folder, freq=data.freq)
    export_seconds = time.perf_counter() - start
    onnx = OnnxPredictor.load(folder, seed=0, threads=args.threads)
    print(
        f"trained in {train_seconds:.0f} s, exported in {export_seconds:.1f} s; {len(test)} series x "
        f"{args.num_samples} samples, {args.batch_size} series per call, {args.threads} thread(s)\n"
    )
    rows = []
    print("| engine | seconds | series/s | CRPS |\n|---|---|---|---|")
    for engine, model in (("torch", predictor), ("onnxruntime", onnx)):
        metrics, _, _, seconds = score(model, test, num_samples=args.num_samples, seed=0)
        row = {"engine": engine, "seconds": seconds, "series_per_s": len(test) / seconds}
        row["crps"] = metrics["mean_wQuantileLoss"]
        rows.append(row)
        print(f"| {engine} | {seconds:.1f} | {row['series_per_s']:.1f} | {row['crps']:.4f} |", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps({"train_seconds": train_seconds, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
