"""How the cost of a multivariate model grows with the number of dimensions D (a script, not a test).

    OMP_NUM_THREADS=1 python evaluation/bench_dimensions.py --dims 8 32 64 --architectures csdi transformer

For each architecture and D, in a fresh process (so the peak memory is its own): one training step (loss and
backward) on a batch of random windows, and one sampling call (``--series`` series x ``--samples`` paths, the
architecture's own sampler steps), both timed; the process's peak resident memory (``ru_maxrss``) after them.
Shapes follow the exchange_rate_nips multivariate configs: context 120, horizon 30, model_dim 64, 2 layers, patch 4.
"""

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time, torch
from gluonts_diffusion.model.module import DiffusionModel
from gluonts_diffusion.model.specs import component_spec
arch, dim, batch, series, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
spec = component_spec({"architecture": arch}, {"architecture": {"model_dim": 64, "num_layers": 2, "patch_size": 4},
                                               "sampler": {"num_steps": 20}})
torch.manual_seed(0)
model = DiffusionModel(30, 120, spec, lags_seq=[1, 5], num_time_features=4, target_dim=dim)
spec_in = model.describe_inputs(batch, "training")
inputs = {k: torch.randn(*v.shape) if "observed" not in k else torch.ones(*v.shape) for k, v in spec_in.items()}
start = time.perf_counter()
model.train()
model.loss(**inputs).mean().backward()
train = time.perf_counter() - start
model.eval()
names = list(model.describe_inputs(series))
with torch.no_grad():
    start = time.perf_counter()
    model(**{k: v[:series] for k, v in inputs.items() if k in names}, num_parallel_samples=samples)
    sample = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"train_step_s": train, "sample_s": sample, "peak_rss_mb": rss,
                  "parameters": sum(p.numel() for p in model.parameters())}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--architectures", nargs="+", default=["csdi", "transformer"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    print("| architecture | D | train step s | sample s (series x paths) | peak RSS MB | parameters |")
    print("|---|---|---|---|---|---|")
    for arch in args.architectures:
        for dim in args.dims:
            command = [
                sys.executable,
                "-c",
                CHILD,
                arch,
                str(dim),
                str(args.batch_size),
                str(args.series),
                str(args.samples),
            ]
            out = subprocess.run(command, capture_output=True, text=True)
            if out.returncode:
                print(f"| {arch} | {dim} | failed: {out.stderr.strip().splitlines()[-1]} | | | |")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {arch} | {dim} | {row['train_step_s']:.2f} | {row['sample_s']:.2f} ({args.series} x "
                f"{args.samples}) | {row['peak_rss_mb']:.0f} | {row['parameters']:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
