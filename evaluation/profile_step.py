"""Where one sampling step goes: time of one denoiser call per architecture, and per layer with torch.profiler.

Builds the quickstart-sized architectures of ``--config`` on m4_hourly (untrained: timing does not depend on
the weights), encodes a batch of ``--num-series`` random histories once, repeats the condition for
``--num-samples`` paths per series (as sampling does) and times ``architecture(x_t, t, cond)``: the median of
``--repeats`` calls under ``torch.inference_mode``, then a profiler table of one call per architecture.

    OMP_NUM_THREADS=1 python evaluation/profile_step.py --dataset-path ../shared/datasets --threads 1
"""

from __future__ import annotations

import re
import statistics
import time

import torch
from common import timing_parser, untrained_predictor
from torch.profiler import ProfilerActivity, profile, record_function

from gluonts_diffusion.data.datasets import load_dataset, resolve_data_path


def step_inputs(architecture, num_series: int, num_samples: int):
    """``(x_t, t, cond)`` of one sampling step: ``num_series * num_samples`` paths, condition repeated."""
    s = architecture.shapes
    generator = torch.Generator().manual_seed(0)
    context = torch.randn(num_series, s.context_length, s.context_dim, generator=generator)
    future = torch.randn(num_series, s.prediction_length, s.future_dim, generator=generator)
    cond = architecture.repeat_condition(architecture.encode(context, future), num_samples)
    paths = num_series * num_samples
    return torch.randn(paths, s.length, s.channels, generator=generator), torch.full((paths,), 0.5), cond


def leaf_times(architecture, x_t, t, cond):
    """Seconds of one step in each leaf module (numbered blocks summed: ``blocks.*.cond``) and in the rest."""
    totals, starts, handles = {}, {}, []
    for name, module in architecture.named_modules():
        if name and not any(module.children()):
            key = re.sub(r"\.\d+(\.|$)", r".*\1", name)
            handles.append(
                module.register_forward_pre_hook(lambda m, a, n=name: starts.__setitem__(n, time.perf_counter()))
            )
            handles.append(
                module.register_forward_hook(
                    lambda m, a, o, n=name, k=key: totals.__setitem__(
                        k, totals.get(k, 0.0) + time.perf_counter() - starts[n]
                    )
                )
            )
    start = time.perf_counter()
    architecture(x_t, t, cond)
    total = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    return {**totals, "(rest: element-wise ops, attention outside leaf modules)": total - sum(totals.values())}, total


def main(argv=None):
    p = timing_parser(__doc__, num_series=8)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset("m4_hourly", resolve_data_path(args.dataset_path))
    times = {}
    for name in args.architectures:
        predictor = untrained_predictor(args.config, args.dataset_path, data, name)
        architecture = predictor.prediction_net.model.architecture.eval()
        with torch.inference_mode():
            x_t, t, cond = step_inputs(architecture, args.num_series, args.num_samples)
            architecture(x_t, t, cond)  # warm-up
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                architecture(x_t, t, cond)
                runs.append(time.perf_counter() - start)
            times[name] = statistics.median(runs)
            with profile(activities=[ProfilerActivity.CPU]) as prof, record_function(f"{name} step"):
                architecture(x_t, t, cond)
        print(f"\n## {name}: {times[name] * 1000:.1f} ms per step ({x_t.shape[0]} paths, shape {tuple(x_t.shape)})")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        with torch.inference_mode():
            parts, total = leaf_times(architecture, x_t, t, cond)
        print("| module | ms | % of step |\n|---|---|---|")
        for key, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"| {key} | {seconds * 1000:.1f} | {100 * seconds / total:.0f}% |")
    if "transformer" in times:
        for name, seconds in times.items():
            print(f"{name}/transformer time per step: {seconds / times['transformer']:.1f}x")


if __name__ == "__main__":
    main()
