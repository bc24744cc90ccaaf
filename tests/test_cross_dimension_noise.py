"""``cross_dimension`` noise against closed forms: its samples have ``Sigma_c``, whitening makes them white, its log
density is the multivariate normal's, rows map to series, and a 3-dim estimator trains, predicts and reloads."""

import math
import pickle

import numpy as np
import pytest
import torch
from oracles import CHANNELS, DIM, LENGTH, GaussianProblem, make_sde
from tiny import tiny_estimator

from gluonts_diffusion import Registry, load_predictor
from gluonts_diffusion.model.export import ExportError, export_model

DRAWS = 20000


def history(batch=2, time=60, seed=0):
    """``(batch, time, 3)`` histories: channel 1 follows channel 0 closely, channel 2 is independent."""
    g = torch.Generator().manual_seed(seed)
    common = torch.randn(batch, time, 1, generator=g, dtype=torch.float64)
    own = torch.randn(batch, time, 3, generator=g, dtype=torch.float64)
    x = torch.cat([common, common + 0.5 * own[..., 1:2], own[..., 2:]], -1)
    return x, torch.ones_like(x)


def bound(shrinkage=0.5, **kwargs):
    return Registry.get("noise", "cross_dimension", shrinkage=shrinkage, **kwargs).conditioned_on(*history())


def sigma(noise):
    return noise.chol @ noise.chol.transpose(1, 2)


def test_sigma_is_the_shrunk_correlation_of_the_history():
    x, w = history()
    noise = bound(shrinkage=0.3)
    corr = torch.stack([torch.corrcoef(row.T) for row in x])
    torch.testing.assert_close(sigma(noise), 0.7 * corr + 0.3 * torch.eye(3, dtype=torch.float64))
    assert float(sigma(noise)[0, 0, 1]) > 0.4  # the two related channels are correlated
    torch.testing.assert_close(noise.covariance(5), torch.eye(5, dtype=torch.float64))  # time: independent steps


def test_samples_have_sigma_and_whiten_to_white_noise():
    noise = bound()
    gen = torch.Generator().manual_seed(0)
    n = noise.sample((2 * DRAWS, 2, 3), generator=gen, dtype=torch.float64)  # DRAWS rows per series, adjacent
    for series in range(2):
        rows = slice(series * DRAWS, (series + 1) * DRAWS)
        draws = n[rows].reshape(-1, 3)
        empirical = draws.T @ draws / draws.shape[0]
        target = sigma(noise)[series]
        assert float(torch.linalg.norm(empirical - target) / torch.linalg.norm(target)) < 0.05
        white = noise.whiten(n)[rows].reshape(-1, 3)
        eye = torch.eye(3, dtype=torch.float64)
        assert float(torch.linalg.norm(white.T @ white / white.shape[0] - eye) / math.sqrt(3)) < 0.05


@pytest.mark.parametrize("scale", [1.0, 2.5, "rows"])
def test_log_prob_is_the_multivariate_normal_density_summed_over_steps(scale):
    noise = bound()
    z = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    scales = torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64) if scale == "rows" else torch.full((4,), scale)
    expected = torch.stack(
        [
            torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), s**2 * sigma(noise)[b // 2])
            .log_prob(z[b])
            .sum()
            for b, s in enumerate(scales.tolist())
        ]
    )
    got = noise.log_prob(z, scales if scale == "rows" else scale)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_kronecker_with_a_time_correlated_base():
    noise = bound(base_noise="correlated", base_params={"kernel": "ou", "length_scale": 2.0})
    z = torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    time_cov = Registry.get("noise", "correlated", kernel="ou", length_scale=2.0).covariance(4)
    for b in range(2):  # vec over (time, channel) in row-major order: Sigma_t (x) Sigma_c
        law = torch.distributions.MultivariateNormal(
            torch.zeros(12, dtype=torch.float64), torch.kron(time_cov, sigma(noise)[b])
        )
        torch.testing.assert_close(noise.log_prob(z)[b], law.log_prob(z[b].reshape(-1)))
    n = noise.sample((DRAWS, 4, 3), generator=torch.Generator().manual_seed(5), dtype=torch.float64)[: DRAWS // 2]
    flat = n.reshape(n.shape[0], -1)
    target = torch.kron(time_cov, sigma(noise)[0])
    assert float(torch.linalg.norm(flat.T @ flat / flat.shape[0] - target) / torch.linalg.norm(target)) < 0.05


def test_rows_are_k_paths_per_series_and_a_wrong_count_is_refused():
    noise = bound()
    base = torch.randn(6, 2, 3, generator=torch.Generator().manual_seed(3))
    got = noise.sample((6, 2, 3), generator=torch.Generator().manual_seed(3))
    chol = noise.chol.to(torch.float32).repeat_interleave(3, 0)  # rows 0-2: series 0, rows 3-5: series 1
    torch.testing.assert_close(got, base @ chol.transpose(1, 2))
    x, w = history()  # bound to the model's k-fold repeated history: one factor per series, the same draws
    repeated = noise.conditioned_on(x.repeat_interleave(3, 0), w.repeat_interleave(3, 0))
    assert repeated.chol.shape == (2, 3, 3)
    assert torch.equal(repeated.sample((6, 2, 3), generator=torch.Generator().manual_seed(3)), got)
    with pytest.raises(ValueError) as err:
        noise.sample((5, 2, 3))
    assert str(err.value) == "cross_dimension noise bound to 2 series cannot serve 5 rows (not a multiple)"
    with pytest.raises(ValueError) as err:
        noise.whiten(torch.zeros(2, 2, 4))
    assert str(err.value) == "cross_dimension noise bound to 3 channels cannot serve 4"


def test_missing_values():
    x, w = history()
    w[:, :, 1] = 0  # channel 1 never observed
    w[1] = 0  # series 1: nothing observed
    cov = Registry.get("noise", "cross_dimension").channel_covariance(x * w, w)
    torch.testing.assert_close(cov[1], torch.eye(3, dtype=torch.float64))
    assert float(cov[0, 0, 1]) == 0.0 and float(cov[0, 1, 2]) == 0.0 and float(cov[0, 1, 1]) == 1.0
    assert abs(float(cov[0, 0, 2])) > 0  # the observed channels keep their estimate
    assert float(torch.linalg.eigvalsh(cov).min()) >= 0.5 - 1e-12


def test_univariate_and_unbound_are_the_standard_noise_bit_for_bit():
    standard = Registry.get("noise", "standard")
    x = torch.randn(2, 30, 1)
    for noise in (
        Registry.get("noise", "cross_dimension"),
        Registry.get("noise", "cross_dimension").conditioned_on(x, torch.ones_like(x)),
    ):
        a = noise.sample((4, 7, 1), generator=torch.Generator().manual_seed(1))
        assert torch.equal(a, standard.sample((4, 7, 1), generator=torch.Generator().manual_seed(1)))
        assert torch.equal(noise.whiten(a), standard.whiten(a))
        assert torch.equal(noise.log_prob(a, 2.0), standard.log_prob(a, 2.0))
        assert torch.equal(noise.covariance(7), standard.covariance(7))


def test_parameters_and_pickling():
    for params, line in [
        ({"shrinkage": 0.0}, "shrinkage must be a number in (0, 1], got 0.0"),
        ({"shrinkage": 1.5}, "shrinkage must be a number in (0, 1], got 1.5"),
        ({"base_noise": "cross_dimension"}, "base_noise cannot be 'cross_dimension' itself"),
    ]:
        with pytest.raises(ValueError) as err:
            Registry.get("noise", "cross_dimension", **params)
        assert str(err.value) == f"noise 'cross_dimension': {line}"
    noise = bound()
    z = torch.randn(2, 3, 3)
    noise.whiten(z)  # fill the cache
    clone = pickle.loads(pickle.dumps(noise))
    torch.testing.assert_close(clone.whiten(z), noise.whiten(z))


def test_nll_bound_is_tight_with_channel_correlated_noise():
    """variational_bound's closed-form terms charge ``log det Sigma_c``: the bound of the exact denoiser is the NLL."""
    assert CHANNELS == 2
    g = torch.Generator().manual_seed(0)
    past = torch.randn(1, 40, 1, generator=g, dtype=torch.float64)
    past = torch.cat([past, past + 0.3 * torch.randn(1, 40, 1, generator=g, dtype=torch.float64)], -1)
    noise = Registry.get("noise", "cross_dimension", shrinkage=0.2).conditioned_on(past, torch.ones_like(past))
    data = GaussianProblem(noise)
    data.noise_cov = torch.kron(torch.eye(LENGTH, dtype=torch.float64), sigma(noise)[0])
    x0 = data.mean + torch.randn(1000, DIM, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(data.cov).T
    x0 = x0.reshape(1000, LENGTH, CHANNELS)
    d = x0.reshape(-1, DIM) - data.mean
    nll = 0.5 * ((d @ torch.linalg.inv(data.cov) * d).sum(1) + torch.logdet(2 * math.pi * data.cov)) / DIM
    sde, objective = make_sde("vpsde"), Registry.get("objective", "variational_bound")
    eps = lambda x, t: data.eps(x, t, sde)  # noqa: E731 - the exact noise prediction
    gap = objective.nll_bound(eps, x0, None, sde, noise, num_t=48, generator=torch.Generator().manual_seed(3)) - nll
    stderr = float(gap.std()) / math.sqrt(len(gap))
    assert -4 * stderr < float(gap.mean()) < 4 * stderr + 0.02, f"gap {float(gap.mean()):.4f} +- {stderr:.4f}"


# --------------------------------------------------------------------------- end to end
def test_three_dim_estimator_trains_predicts_serializes_and_refuses_onnx(trainer_kwargs, tmp_path, data_dir):
    from gluonts_diffusion.data.datasets import load_dataset

    data = load_dataset("exchange_rate_nips", data_dir, multivariate=True)
    train = [
        {**e, "target": e["target"][:3, -150:], "start": e["start"] + (e["target"].shape[1] - 150)} for e in data.train
    ]
    estimator = tiny_estimator(
        trainer_kwargs,
        freq=data.freq,
        prediction_length=10,
        target_dim=3,
        noise="cross_dimension",
        num_batches_per_epoch=2,
    )
    predictor = estimator.train(train)
    assert predictor.prediction_net.model.noise.registry_name == "cross_dimension"
    forecast = next(iter(predictor.predict(train, num_samples=8, seed=1)))
    assert forecast.samples.shape == (8, 10, 3) and np.isfinite(forecast.samples).all()
    predictor.serialize(tmp_path / "model")
    reloaded = load_predictor(tmp_path / "model")
    again = next(iter(reloaded.predict(train, num_samples=8, seed=1)))
    np.testing.assert_allclose(again.samples, forecast.samples, rtol=1e-6, atol=1e-6)
    with pytest.raises(ExportError) as err:
        export_model(predictor, tmp_path / "onnx")
    assert (
        str(err.value) == "export_model: noise 'cross_dimension' depends on the history and cannot be exported to ONNX"
    )


def test_univariate_model_forecasts_equal_the_standard_noise_models():
    from gluonts_diffusion.model.module import DiffusionModel
    from gluonts_diffusion.model.specs import component_spec

    def model(noise):
        torch.manual_seed(0)
        spec = component_spec(
            {"noise": noise, "sampler": "ddim"},
            {
                "architecture": {"model_dim": 8, "num_heads": 2, "num_layers": 1},
                "sampler": {"num_steps": 2, "eta": 1.0},
            },
        )
        return DiffusionModel(4, 8, spec, lags_seq=[1], num_time_features=1, num_parallel_samples=3).eval()

    a, b = model("standard"), model("cross_dimension")
    g = torch.Generator().manual_seed(0)
    past = 5 + torch.randn(2, a.past_length, generator=g)
    inputs = dict(
        past_target=past,
        past_observed_values=torch.ones_like(past),
        past_time_feat=torch.randn(2, a.past_length, 1, generator=g),
        future_time_feat=torch.randn(2, 4, 1, generator=g),
    )
    with torch.no_grad():
        expected = a(**inputs, generator=torch.Generator().manual_seed(1))
        got = b(**inputs, generator=torch.Generator().manual_seed(1))
        assert torch.equal(got, expected)
        assert torch.equal(
            a.loss(**future(inputs), generator=torch.Generator().manual_seed(2)),
            b.loss(**future(inputs), generator=torch.Generator().manual_seed(2)),
        )


def future(inputs):
    target = inputs["past_target"][:, -4:] + 1
    return {**inputs, "future_target": target, "future_observed_values": torch.ones_like(target)}
