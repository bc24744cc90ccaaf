"""Every registered time grid meets the contract samplers rely on; a new grid is one decorator away."""

import pytest
import torch
from oracles import CHANNELS, DTYPE, LENGTH, make_sde

from gluonts_diffusion.core import BaseTimeGrid, Denoiser, Registry


@pytest.mark.parametrize("sde_name", Registry.list("sde"))
@pytest.mark.parametrize("grid_name", Registry.list("time_grid"))
@pytest.mark.parametrize("num_steps", [1, 2, 17])
def test_grid_decreases_from_one_to_eps(grid_name, sde_name, num_steps):
    sde = make_sde(sde_name)
    ts = Registry.get("time_grid", grid_name)(sde, num_steps)
    assert ts.dtype == torch.float64 and ts.shape == (num_steps + 1,)
    assert float(ts[0]) == 1.0 and float(ts[-1]) == pytest.approx(sde.eps, rel=1e-12)
    assert (ts[1:] < ts[:-1]).all()


@pytest.mark.parametrize("sde_name", ["vpsde", "vesde"])
def test_builtin_grids_closed_form(sde_name):
    """uniform: equal steps in t; quadratic: t - eps proportional to (1 - i/n)^2; logsnr: equal steps in log-SNR."""
    sde, n = make_sde(sde_name), 8
    frac = torch.arange(n + 1, dtype=torch.float64) / n
    uniform = Registry.get("time_grid", "uniform")(sde, n)
    torch.testing.assert_close(uniform, 1 - (1 - sde.eps) * frac)
    quadratic = Registry.get("time_grid", "quadratic")(sde, n)
    torch.testing.assert_close(quadratic, sde.eps + (1 - sde.eps) * (1 - frac) ** 2)
    lam = sde.log_snr(Registry.get("time_grid", "logsnr")(sde, n))
    torch.testing.assert_close(
        lam[1:] - lam[:-1], torch.full((n,), float(lam[1] - lam[0]), dtype=DTYPE), rtol=1e-6, atol=1e-6
    )


def test_sampler_timesteps_come_from_the_registered_grid():
    sde = make_sde("vpsde")
    for name in Registry.list("time_grid"):
        sampler = Registry.get("sampler", "ddim", num_steps=5, time_grid=name)
        torch.testing.assert_close(sampler.timesteps(sde, dtype=DTYPE), Registry.get("time_grid", name)(sde, 5))


def test_unknown_grid_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown time_grid 'nosuch'.*logsnr.*quadratic.*uniform"):
        Registry.get("sampler", "euler", time_grid="nosuch")


def test_grid_defined_in_a_test_registers_and_drives_a_sampler():
    @Registry.register("time_grid", "_test_two_halves")
    class TwoHalves(BaseTimeGrid):
        """Half of the steps on [0.5, 1], half on [eps, 0.5] (num_steps even)."""

        def __call__(self, sde, num_steps):
            half = num_steps // 2
            upper = torch.linspace(1.0, 0.5, half + 1, dtype=torch.float64)
            lower = torch.linspace(0.5, sde.eps, num_steps - half + 1, dtype=torch.float64)
            return torch.cat([upper, lower[1:]])

    try:
        assert "_test_two_halves" in Registry.list("time_grid")
        sde = make_sde("vpsde")
        seen = []

        def network(x, t):
            seen.append(float(t[0]))
            return torch.zeros_like(x)

        sampler = Registry.get("sampler", "ddim", num_steps=4, time_grid="_test_two_halves")
        sampler.sample(Denoiser(network, sde), torch.ones(2, LENGTH, CHANNELS, dtype=DTYPE), sde, None)
        assert seen == pytest.approx([1.0, 0.75, 0.5, 0.5 - (0.5 - sde.eps) / 2])
    finally:
        Registry._components["time_grid"].pop("_test_two_halves")


@pytest.mark.parametrize("sde_name", ["vpsde", "vesde", "subvpsde"])
@pytest.mark.parametrize("rho", [1.0, 7.0])
def test_karras_grid_closed_form(sde_name, rho):
    """karras: (sigma/alpha)^(1/rho) equally spaced from its value at t = 1 to its value at t = eps."""
    sde, n = make_sde(sde_name), 9
    ts = Registry.get("time_grid", "karras", rho=rho)(sde, n)
    root = (sde.sigma(ts) / sde.alpha(ts)) ** (1 / rho)
    steps = root[1:] - root[:-1]
    torch.testing.assert_close(steps, torch.full((n,), float(steps.mean()), dtype=DTYPE), rtol=1e-6, atol=1e-8)


def test_karras_grid_default_rho_and_bad_rho():
    assert Registry.get("time_grid", "karras").rho == 7.0
    with pytest.raises(ValueError) as err:
        Registry.get("time_grid", "karras", rho=0)
    assert str(err.value) == "time_grid 'karras': rho must be > 0, got 0"
