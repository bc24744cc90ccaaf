"""Samplers at shipped step counts (10 and 20) on data whose std goes down to 0.01 of the prior's.

:class:`oracles.SpreadProblem` on the VP SDE: six independent coordinates with data std 1, 0.40, 0.16, 0.063,
0.025, 0.01 and the exact Gaussian denoiser, started from the exact marginal at ``t = 1``. A ratio is the
sampler's output std over the exact std of its target (``x_eps``; with ``denoise``, ``E[x0 | x_eps]``), and
"worst" is the coordinate farthest from 1. Measured worst ratios (``python tests/test_sampler_spread.py``):

=====================  =======  ===========  ===========  ===========  ===========
sampler                steps    uniform      quadratic    logsnr       karras (7)
=====================  =======  ===========  ===========  ===========  ===========
ddim eta=0             10 / 20  0.34 / 0.48  0.73 / 0.86  0.79 / 0.89  0.67 / 0.82
dpm (2M++)             10 / 20  0.53 / 0.64  0.89 / 1.04  0.95 / 0.99  0.80 / 0.95
heun (2n-1 NFE)        10 / 20  0.34 / 0.49  0.83 / 0.98  1.15 / 1.03  0.78 / 0.94
euler prob. flow       10 / 20  3.06 / 1.63  1.54 / 1.23  1.75 / 1.30  2.12 / 1.41
=====================  =======  ===========  ===========  ===========  ===========

Shipped default grids: DDIM uniform 0.34x / 0.48x, DPM-Solver++ logsnr 0.95x / 0.99x, Heun logsnr 1.15x / 1.03x,
Euler uniform 3.1x / 1.6x. So the 5% target holds only for the second-order samplers at 20 steps (dpm on
logsnr, heun on quadratic); at 10 steps dpm on logsnr comes closest (0.945); the first-order samplers (DDIM,
Euler) are 11% and 23% off at 20 steps on their best grid. The tests below assert exactly that.

``denoise=True`` (Song et al.'s final x0 step): on independent Gaussian coordinates the exact ``E[x0 | x_eps]``
is a per-coordinate scaling, so every ratio to its own target is unchanged (tested to 1e-9). What moves is the
target: against the *data* std, ``x_eps`` is 1.45x on the 0.01 coordinate (its std equals ``sigma(eps)``) and
``E[x0 | x_eps]`` 0.69x; both are within 1.5% on coordinates with std >= 0.063.

Stochastic samplers (8000 paths, Monte Carlo error about 1%): ``ddim eta=1`` shrinks more than eta=0 (best grid
logsnr: 0.83x / 0.88x on the worst coordinate at 10 / 20 steps, 0.66x / 0.80x on the std-1 one); ``pc`` (500
steps) and ``euler`` (1000 steps), their shipped settings, are within 7% on karras / logsnr / quadratic, but
their default uniform grid shrinks the 0.01 coordinate to 0.76x (pc) and 0.84x (euler). At 10 / 20 steps pc and
Euler-Maruyama are unusable (ratios from 0.03x to 39x).
"""

from typing import Dict, Optional

import pytest
import torch
from oracles import CHANNELS, DIM, DTYPE, LENGTH, SpreadProblem, make_noise, make_sde

from gluonts_diffusion.core.registry import Registry

DETERMINISTIC: Dict[str, dict] = {"ddim": dict(eta=0.0), "dpm": {}, "heun": {}, "euler": dict(probability_flow=True)}
STEPS = (10, 20)
#: (sampler, steps) -> (the grid that keeps the spread best, max |ratio - 1| it reaches)
BEST_GRID = {
    ("ddim", 10): ("logsnr", 0.22),
    ("ddim", 20): ("logsnr", 0.12),
    ("dpm", 10): ("logsnr", 0.06),
    ("dpm", 20): ("logsnr", 0.05),
    ("heun", 10): ("logsnr", 0.15),
    ("heun", 20): ("quadratic", 0.05),
    ("euler", 10): ("quadratic", 0.54),
    ("euler", 20): ("quadratic", 0.24),
}
#: the shipped default grid's worst ratio at 10 and 20 steps, measured (see the module docstring)
DEFAULT_GRID = {"ddim": (0.338, 0.478), "dpm": (0.945, 0.986), "heun": (1.149, 1.033), "euler": (3.056, 1.625)}


def target_std(problem: SpreadProblem, sde, denoise: bool) -> torch.Tensor:
    """Exact std per coordinate ``(DIM,)`` of ``x_eps`` or, with ``denoise``, of ``E[x0 | x_eps]``."""
    t = torch.tensor([sde.eps], dtype=DTYPE)
    a, s = float(sde.alpha(t)), float(sde.sigma(t))
    c = problem.cov.diagonal()
    k = a * a * c + s * s * problem.noise_cov.diagonal()
    return a * c / k.sqrt() if denoise else k.sqrt()


def output_std(sampler, problem: SpreadProblem, sde, paths: Optional[int] = None, seed: int = 0) -> torch.Tensor:
    """Std per coordinate ``(DIM,)`` of the sampler's output started from the exact marginal at ``t = 1``.

    Deterministic samplers are affine in their start here: the exact law comes from pushing the mean and the
    columns of a square root of the start's covariance. Stochastic ones (``paths`` set): Monte Carlo.
    """
    gen = torch.Generator().manual_seed(seed)
    mean1, cov1 = problem.marginal(sde, 1.0)
    root = torch.linalg.cholesky(cov1)
    if paths is None:
        start = torch.cat([mean1[None], mean1[None] + root.T])
    else:
        start = mean1 + torch.randn(paths, DIM, generator=gen, dtype=DTYPE) @ root.T
    out = sampler.sample(problem.denoiser(sde), start.reshape(-1, LENGTH, CHANNELS), sde, problem.noise, gen)
    out = out.reshape(-1, DIM)
    return (out[1:] - out[0]).pow(2).sum(0).sqrt() if paths is None else out.std(0)


def ratios(name, params, grid, steps, denoise=False, paths=None) -> torch.Tensor:
    """Sample std / exact std per coordinate ``(DIM,)`` on the VP SDE."""
    sde = make_sde("vpsde")
    problem = SpreadProblem(make_noise("standard"), sde)
    sampler = Registry.get("sampler", name, num_steps=steps, time_grid=grid, denoise=denoise, **params)
    return output_std(sampler, problem, sde, paths) / target_std(problem, sde, denoise)


def worst(r: torch.Tensor) -> float:
    """The ratio farthest from 1 (in log)."""
    return float(r[r.log().abs().argmax()])


@pytest.mark.parametrize("name,steps", list(BEST_GRID))
def test_best_grid_keeps_the_spread(name, steps):
    grid, tol = BEST_GRID[name, steps]
    by_grid = {g: worst(ratios(name, DETERMINISTIC[name], g, steps)) for g in Registry.list("time_grid")}
    assert abs(by_grid[grid] - 1) <= tol, by_grid
    best = min(by_grid, key=lambda g: abs(torch.tensor(by_grid[g]).log()))
    assert best == grid, f"{best} keeps the spread better than {grid}: {by_grid}"


@pytest.mark.parametrize("name", list(DEFAULT_GRID))
def test_default_grids_measured(name):
    """The shipped grids' figures in the module docstring (DDIM's uniform grid shrinks the spread to 0.48x)."""
    sampler = Registry.get("sampler", name)
    got = [worst(ratios(name, DETERMINISTIC[name], sampler.time_grid, n)) for n in STEPS]
    assert got == pytest.approx(list(DEFAULT_GRID[name]), abs=2e-3)


@pytest.mark.parametrize("grid", Registry.list("time_grid"))
@pytest.mark.parametrize("name", list(DETERMINISTIC))
def test_denoise_keeps_the_ratio_to_its_target(name, grid):
    for steps in STEPS:
        plain = ratios(name, DETERMINISTIC[name], grid, steps)
        denoised = ratios(name, DETERMINISTIC[name], grid, steps, denoise=True)
        torch.testing.assert_close(denoised, plain, rtol=1e-9, atol=0)


def test_denoise_targets_against_the_data():
    sde = make_sde("vpsde")
    problem = SpreadProblem(make_noise("standard"), sde)
    data = problem.cov.diagonal().sqrt()
    plain, denoised = target_std(problem, sde, False) / data, target_std(problem, sde, True) / data
    assert float(plain[-1]) == pytest.approx(1.449, abs=1e-3) and float(denoised[-1]) == pytest.approx(0.690, abs=1e-3)
    assert (plain[:4] - 1).abs().max() < 0.015 and (denoised[:4] - 1).abs().max() < 0.015


def test_denoise_costs_one_evaluation_and_returns_the_x0_prediction():
    sde = make_sde("vpsde")
    problem = SpreadProblem(make_noise("standard"), sde)
    x = torch.randn(4, LENGTH, CHANNELS, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    for name in Registry.list("sampler"):
        plain = Registry.get("sampler", name, num_steps=3)
        denoised = Registry.get("sampler", name, num_steps=3, denoise=True)
        assert denoised.nfe == plain.nfe + 1
        denoiser = problem.denoiser(sde)
        out = denoised.sample(denoiser, x.clone(), sde, problem.noise, torch.Generator().manual_seed(1))
        last = plain.sample(problem.denoiser(sde), x.clone(), sde, problem.noise, torch.Generator().manual_seed(1))
        assert denoiser.calls == denoised.nfe
        t = torch.full((4,), sde.eps, dtype=DTYPE)
        torch.testing.assert_close(out, problem.denoiser(sde).x0(last, t), rtol=1e-12, atol=1e-12)


#: stochastic samplers: (name, params, steps, grid) -> band of the worst ratio, 8000 paths
STOCHASTIC = {
    ("ddim", (("eta", 1.0),), 10, "logsnr"): (0.62, 0.72),
    ("ddim", (("eta", 1.0),), 20, "logsnr"): (0.76, 0.84),
    ("pc", (), 500, "karras"): (0.95, 1.07),
    ("pc", (), 500, "uniform"): (0.70, 0.82),
    ("euler", (), 1000, "karras"): (0.95, 1.05),
    ("euler", (), 1000, "uniform"): (0.78, 0.90),
}


@pytest.mark.parametrize("case", list(STOCHASTIC), ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}")
def test_stochastic_samplers_stated_tolerance(case):
    """The worst coordinate's ratio lies in the stated band (Monte Carlo error about 1%)."""
    name, params, steps, grid = case
    lo, hi = STOCHASTIC[case]
    r = ratios(name, dict(params), grid, steps, paths=8000)
    assert lo <= worst(r) <= hi, r


if __name__ == "__main__":  # the table of the module docstring
    for key, params in DETERMINISTIC.items():
        for g in Registry.list("time_grid"):
            print(key, g, " / ".join(f"{worst(ratios(key, params, g, n)):.3f}" for n in STEPS))
