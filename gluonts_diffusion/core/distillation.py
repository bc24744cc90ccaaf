"""Progressive distillation (Salimans & Ho, 2022, "Progressive Distillation for Fast Sampling of Diffusion
Models", Algorithm 2): the math, as pure functions over :class:`~gluonts_diffusion.core.denoiser.Denoiser` s.

A student learns to do in ONE deterministic DDIM step (eta = 0) what its teacher does in TWO, on a time grid
whose ``n``-step points are every other point of its ``2n``-step points; the student then becomes the teacher
and the step count halves again, ``N -> N/2 -> ... -> K``. The student regresses the clean window that makes its
single DDIM step land where the teacher's two land: from ``z_t``, teacher DDIM to ``t'`` then to ``t''``, and

    x_target = (z_t'' - (sigma_t'' / sigma_t) z_t) / (alpha_t'' - (sigma_t'' / sigma_t) alpha_t)

(their Alg. 2 in x-space, for any Gaussian path ``x_t = alpha x0 + sigma n``), weighted by the truncated SNR
``max(alpha_t^2 / sigma_t^2, 1)``. Any parameterization works, since the student is seen through its
``Denoiser``; note that an eps-parameterized student is ill-posed where ``alpha ~ 0`` (the x0 it implies is
``(z - sigma eps) / alpha``: Salimans & Ho, sec. 4), so x0 / velocity / EDM outputs distill better at few steps.

Shapes: windows ``(batch, length, channels)``, times ``(batch,)``.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import torch

from .denoiser import Denoiser
from .noise import BaseNoise
from .sde import BaseSDE
from .tensors import expand_t

#: a time grid: ``grid(sde, n) -> (n + 1,)`` decreasing times from 1 to ``sde.eps`` (``BaseTimeGrid.__call__``)
TimeGrid = Callable[[BaseSDE, int], torch.Tensor]


def ddim_step(denoiser: Denoiser, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, sde: BaseSDE) -> torch.Tensor:
    """One deterministic DDIM step (eta = 0) of ``x`` at ``t`` to ``s``: ``alpha_s x0_hat + sigma_s eps_hat``."""
    eps = denoiser.eps(x, t)
    x0 = (x - expand_t(sde.sigma(t), x) * eps) / expand_t(sde.alpha(t), x)
    return expand_t(sde.alpha(s), x) * x0 + expand_t(sde.sigma(s), x) * eps


def distillation_target(
    teacher: Denoiser, z: torch.Tensor, t: torch.Tensor, mid: torch.Tensor, s: torch.Tensor, sde: BaseSDE
) -> torch.Tensor:
    """The ``x0`` whose single DDIM step ``t -> s`` from ``z`` equals the teacher's two steps ``t -> mid -> s``."""
    with torch.no_grad():
        z_s = ddim_step(teacher, ddim_step(teacher, z, t, mid, sde), mid, s, sde)
        ratio = expand_t(sde.sigma(s) / sde.sigma(t), z)
        return (z_s - ratio * z) / (expand_t(sde.alpha(s), z) - ratio * expand_t(sde.alpha(t), z))


def truncated_snr(t: torch.Tensor, sde: BaseSDE) -> torch.Tensor:
    """Salimans & Ho's x-space weight ``max(alpha^2 / sigma^2, 1)`` -> (batch,)."""
    return (sde.alpha(t) ** 2 / sde.sigma(t) ** 2).clamp_min(1.0)


def stage_steps(num_steps: int, teacher_steps: int) -> List[int]:
    """Teacher step counts of the distillation stages, ``[N, N/2, ..., 2K]``; ``N`` must be ``K * 2^m``, m >= 1."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    ratio = teacher_steps // num_steps if isinstance(teacher_steps, int) and teacher_steps > 0 else 0
    if isinstance(teacher_steps, bool) or ratio < 2 or ratio * num_steps != teacher_steps or ratio & (ratio - 1):
        raise ValueError(
            f"teacher_steps must be num_steps * 2^m with m >= 1 (num_steps {num_steps}: "
            f"{num_steps * 2}, {num_steps * 4}, {num_steps * 8}, ...), got {teacher_steps!r}"
        )
    stages = [teacher_steps]
    while stages[-1] > 2 * num_steps:
        stages.append(stages[-1] // 2)
    return stages


def default_teacher_steps(num_steps: int, sampler_steps: int) -> int:
    """The smallest ``num_steps * 2^m`` (m >= 1) at least ``sampler_steps`` (e.g. K = 4, 20 steps -> 32)."""
    steps = 2 * num_steps
    while steps < sampler_steps:
        steps *= 2
    return steps


def check_nested(grid: TimeGrid, sde: BaseSDE, teacher_steps: int, num_steps: int, name: str = "time grid") -> None:
    """``ValueError`` unless the ``n``-step points of ``grid`` are every other ``2n``-step point, for every
    student ``n`` from ``num_steps`` up to ``teacher_steps / 2`` (relative tolerance 1e-6)."""
    n = num_steps
    while n < teacher_steps:
        coarse, fine = grid(sde, n).to(torch.float64), grid(sde, 2 * n).to(torch.float64)[::2]
        if coarse.shape != fine.shape or not torch.allclose(coarse, fine, rtol=1e-6, atol=1e-9):
            raise ValueError(
                f"{name} does not nest: its {n}-step points are not every other point of its {2 * n}-step "
                "grid, so a student step cannot stand for two teacher steps; use time_grid uniform or logsnr"
            )
        n *= 2


def distillation_loss(
    student: Denoiser,
    teacher: Denoiser,
    x0: torch.Tensor,
    mask: Optional[torch.Tensor],
    sde: BaseSDE,
    noise: BaseNoise,
    grid: torch.Tensor,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Per-row loss (batch,) of one stage: ``w(t) * mean_observed (student.x0(z_t, t) - x_target)^2``.

    ``grid``: the teacher's ``(2n + 1,)`` times; each row draws a student step ``i`` uniformly from ``n`` and
    ``z_t = alpha_t x0 + sigma_t noise`` at ``t = grid[2i]`` (the midpoint is ``grid[2i + 1]``, the next student
    point ``grid[2i + 2]``). ``mask`` (as ``x0``, 1 = observed) leaves unobserved entries out, as the model's loss.
    """
    batch, n = x0.shape[0], (grid.shape[0] - 1) // 2
    i = 2 * torch.randint(0, n, (batch,), generator=generator, device=grid.device)
    t, mid, s = (grid[i + k].to(device=x0.device, dtype=x0.dtype) for k in range(3))
    n_t = noise.sample(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    z = expand_t(sde.alpha(t), x0) * x0 + expand_t(sde.sigma(t), x0) * n_t
    target = distillation_target(teacher, z, t, mid, s, sde)
    error = (student.x0(z, t) - target) ** 2
    weights = torch.ones_like(error) if mask is None else mask.to(error.dtype)
    per_row = (error * weights).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp_min(1.0)
    return truncated_snr(t, sde) * per_row
