"""Progressive distillation on Gaussian data, where the teacher's denoiser is exact (closed form).

Data ``x ~ N(mu, Sigma)`` (d = 3, one channel, no conditioning) on the VP SDE; the teacher is the exact posterior
mean ``x0_hat = mu + alpha Sigma (alpha^2 Sigma + sigma^2 I)^-1 (z - alpha mu)`` sampled with 64 DDIM steps on the
uniform grid (16 logsnr steps are 25% off Sigma: DDIM's own error). The student, a small MLP ``t -> (W(t), b(t))``
giving ``x0 = W(t) z + b(t)`` (the form of every exact and distilled denoiser here), is first fitted to the exact
denoiser, then distilled to K = 4 and K = 1.
"""

import pytest
import torch

from gluonts_diffusion.core import Registry
from gluonts_diffusion.core.denoiser import Denoiser
from gluonts_diffusion.core.distillation import (
    check_nested,
    ddim_step,
    distillation_loss,
    distillation_target,
    stage_steps,
    truncated_snr,
)
from gluonts_diffusion.core.tensors import full_t

D, TEACHER_STEPS, SAMPLES = 3, 64, 20_000
MU = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
_L = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.5]], dtype=torch.float64)
SIGMA = _L @ _L.T
#: measured (600 batches of 512 per stage, 20k samples, seeded): K = 4 and K = 1 students 0.004 (mean, max abs) and
#: 0.032 (covariance, relative Frobenius) from the 64-step teacher, and 0.019 / 0.067 from (mu, Sigma); the teacher
#: is itself 0.015 / 0.041 from (mu, Sigma) (20k samples' Monte-Carlo error, DDIM's discretisation)
MEAN_TOL, COV_TOL = 0.01, 0.06  # against the teacher
DATA_MEAN_TOL, DATA_COV_TOL = 0.03, 0.10  # against mu, Sigma
LR = 1e-2


def exact_network(sde):
    """The teacher: the exact posterior mean of Gaussian data, as an x0-output network ``(batch, D, 1)``."""

    def network(z, t):
        a, s = sde.alpha(t).to(torch.float64), sde.sigma(t).to(torch.float64)
        cov = a[:, None, None] ** 2 * SIGMA + s[:, None, None] ** 2 * torch.eye(D, dtype=torch.float64)
        gain = a[:, None, None] * SIGMA @ torch.linalg.inv(cov)
        resid = z.to(torch.float64)[..., 0] - a[:, None] * MU
        return (MU + (gain @ resid[..., None])[..., 0])[..., None].to(z.dtype)

    return network


class Student(torch.nn.Module):
    """``x0 = W(t) z + b(t)`` with ``W, b`` from a small MLP of ``(t, log-SNR(t) / 10)``."""

    def __init__(self, sde):
        super().__init__()
        self.sde = sde
        self.mlp = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.SiLU(), torch.nn.Linear(64, D * D + D))

    def forward(self, z, t):
        feats = torch.stack([t, self.sde.log_snr(t) / 10], -1).to(z.dtype)
        out = self.mlp(feats)
        w, b = out[:, : D * D].reshape(-1, D, D), out[:, D * D :]
        return ((w @ z[..., 0, None])[..., 0] + b)[..., None]


def ddim(denoiser, z, ts, sde):
    for i in range(len(ts) - 1):
        z = ddim_step(denoiser, z, full_t(ts[i], z.shape[0], z), full_t(ts[i + 1], z.shape[0], z), sde)
    return z


def data(batch):
    return (MU + torch.randn(batch, D, dtype=torch.float64) @ _L.T).float()[..., None]


def fit_exact(net, sde, batches):
    """``net`` regressed on the exact denoiser at uniform times (SNR-truncated weights): the first teacher."""
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    exact = exact_network(sde)
    for _ in range(2 * batches):
        t = sde.eps + (1 - sde.eps) * torch.rand(512)
        z = sde.alpha(t)[:, None, None] * data(512) + sde.sigma(t)[:, None, None] * torch.randn(512, D, 1)
        loss = (truncated_snr(t, sde)[:, None, None] * (net(z, t) - exact(z, t)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def distill_gaussian(sde, noise, grid, num_steps, batches=600, seed=0):
    """Progressive distillation ``TEACHER_STEPS -> num_steps``: the final student's Denoiser."""
    torch.manual_seed(seed)
    teacher = Denoiser(exact_network(sde), sde, "x0")
    student_net = fit_exact(Student(sde), sde, batches)
    for steps in stage_steps(num_steps, TEACHER_STEPS):
        opt = torch.optim.Adam(student_net.parameters(), lr=LR)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, batches)
        student = Denoiser(student_net, sde, "x0")
        ts = grid(sde, steps)
        for _ in range(batches):
            loss = distillation_loss(student, teacher, data(512), None, sde, noise, ts).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        frozen = Student(sde)
        frozen.load_state_dict(student_net.state_dict())
        teacher = Denoiser(frozen.requires_grad_(False), sde, "x0")
    return teacher


def moments(x):
    x = x[..., 0].to(torch.float64)
    return x.mean(0), torch.cov(x.T)


@pytest.fixture(scope="module")
def setting():
    sde, noise = Registry.get("sde", "vpsde"), Registry.get("noise", "standard")
    grid = Registry.get("time_grid", "uniform")
    prior = sde.prior_std() * torch.randn(SAMPLES, D, 1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        teacher = ddim(Denoiser(exact_network(sde), sde, "x0"), prior, grid(sde, TEACHER_STEPS).float(), sde)
    return sde, noise, grid, prior, moments(teacher)


@pytest.mark.parametrize("num_steps", [4, 1])
def test_distilled_student_reproduces_the_teachers_mean_and_covariance(setting, num_steps):
    sde, noise, grid, prior, (mean_t, cov_t) = setting
    student = distill_gaussian(sde, noise, grid, num_steps)
    with torch.no_grad():
        mean_s, cov_s = moments(ddim(student, prior, grid(sde, num_steps).float(), sde))
    cov_error = float(torch.linalg.norm(cov_s - cov_t) / torch.linalg.norm(cov_t))
    print(f"K={num_steps}: |mean - teacher| {float((mean_s - mean_t).abs().max()):.4f}, cov rel. {cov_error:.4f}")
    print(
        f"   vs data: mean {float((mean_s - MU).abs().max()):.4f}, cov rel. "
        f"{float(torch.linalg.norm(cov_s - SIGMA) / torch.linalg.norm(SIGMA)):.4f}"
    )
    assert float((mean_s - mean_t).abs().max()) < MEAN_TOL
    assert cov_error < COV_TOL
    assert float((mean_s - MU).abs().max()) < DATA_MEAN_TOL
    assert float(torch.linalg.norm(cov_s - SIGMA) / torch.linalg.norm(SIGMA)) < DATA_COV_TOL


def test_one_step_from_the_target_reproduces_two_teacher_steps():
    sde = Registry.get("sde", "vpsde")
    teacher = Denoiser(exact_network(sde), sde, "x0")
    ts = Registry.get("time_grid", "logsnr")(sde, 8)
    z = torch.randn(64, D, 1, dtype=torch.float64)
    for i in range(0, 8, 2):
        t, mid, s = (full_t(ts[i + k], 64, z) for k in range(3))
        two = ddim_step(teacher, ddim_step(teacher, z, t, mid, sde), mid, s, sde)
        target = distillation_target(teacher, z, t, mid, s, sde)
        one = ddim_step(Denoiser(lambda x, tt, target=target: target, sde, "x0"), z, t, s, sde)
        torch.testing.assert_close(one, two, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["uniform", "logsnr"])
def test_registered_grids_nest(name):
    sde = Registry.get("sde", "vpsde")
    check_nested(Registry.get("time_grid", name), sde, 64, 1, name)


def test_a_grid_that_does_not_nest_is_refused():
    sde = Registry.get("sde", "vpsde")

    def squeezed(sde, n):  # uniform in t**(n): its points move with n
        return 1 - (1 - sde.eps) * torch.linspace(0, 1, n + 1, dtype=torch.float64) ** (1 + 1 / n)

    with pytest.raises(ValueError) as err:
        check_nested(squeezed, sde, 8, 2, "time grid 'squeezed'")
    assert str(err.value) == (
        "time grid 'squeezed' does not nest: its 2-step points are not every other point of its 4-step grid, so a "
        "student step cannot stand for two teacher steps; use time_grid uniform or logsnr"
    )


@pytest.mark.parametrize("k, n, stages", [(4, 32, [32, 16, 8]), (1, 8, [8, 4, 2]), (2, 4, [4])])
def test_stages_halve_the_teacher(k, n, stages):
    assert stage_steps(k, n) == stages


@pytest.mark.parametrize("n", [4, 12, 0, 2.0])
def test_teacher_steps_must_be_k_times_a_power_of_two(n):
    with pytest.raises(ValueError) as err:
        stage_steps(4, n)
    assert (
        str(err.value) == f"teacher_steps must be num_steps * 2^m with m >= 1 (num_steps 4: 8, 16, 32, ...), got {n!r}"
    )
