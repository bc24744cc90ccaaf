"""``python -m gluonts_diffusion.serve``: GluonTS's inference API over real HTTP, against a server subprocess.

A tiny model is trained on a slice of m4_hourly and served by gunicorn on a free port; requests go through
``httpx``. The served forecast equals ``predictor.predict`` for the same seed; malformed requests get a 400
with one line naming what is wrong, and the server keeps serving.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gluonts.dataset.common import ListDataset
from gluonts.model.predictor import Predictor
from tiny import tiny_estimator

from gluonts_diffusion.data.datasets import load_dataset
from gluonts_diffusion.serving.http import RequestError, check_configuration, request_body, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(data_dir, tmp_path_factory):
    """(base url, the deserialized predictor, m4_hourly test entries) with the server running."""
    data = load_dataset("m4_hourly", data_dir, max_series=8)
    root = tmp_path_factory.mktemp("serve")
    trainer = {"max_epochs": 1, "enable_progress_bar": False, "enable_model_summary": False, "logger": False}
    estimator = tiny_estimator({**trainer, "default_root_dir": str(root), "accelerator": "cpu"}, freq=data.freq)
    (root / "model").mkdir()
    estimator.train(data.train).serialize(root / "model")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "gluonts_diffusion.serve", "--model", str(root / "model"), "--port", str(port)]
    log = (root / "server.log").open("w")  # a file, not a pipe nobody reads while the server runs
    server = subprocess.Popen([*command, "--freq", data.freq], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_ready(url, timeout=120, process=server)
        except RuntimeError as err:
            server.kill()
            server.wait()
            pytest.fail(f"{err}: {(root / 'server.log').read_text()}")
        yield url, Predictor.deserialize(root / "model"), data.test
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def invoke(url, body=None, **kwargs):
    """POST ``body`` as JSON (or raw ``content=``) to ``/invocations``."""
    return httpx.post(f"{url}/invocations", json=body, timeout=60, **kwargs)


def test_ping(served):
    assert httpx.get(f"{served[0]}/ping").status_code == 200


def test_invocation_equals_predict_with_the_same_seed(served):
    url, predictor, entries = served
    config = {"num_samples": 20, "output_types": ["mean", "quantiles", "samples"], "quantiles": ["0.1", "0.5", "0.9"]}
    response = invoke(url, request_body(entries[:2], seed=7, **config))
    assert response.status_code == 200, response.text
    served_predictions = response.json()["predictions"]
    torch.manual_seed(7)
    forecasts = list(predictor.predict(ListDataset(entries[:2], freq="H"), num_samples=20))
    assert len(served_predictions) == len(forecasts) == 2
    for served_one, forecast in zip(served_predictions, forecasts):
        samples = np.asarray(served_one["samples"])
        assert samples.shape == (20, predictor.prediction_length)
        np.testing.assert_allclose(samples, forecast.samples, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(served_one["mean"], forecast.mean, rtol=1e-5, atol=1e-5)
        q = {name: np.asarray(values) for name, values in served_one["quantiles"].items()}
        assert list(q) == ["0.1", "0.5", "0.9"]
        assert (q["0.1"] <= q["0.5"]).all() and (q["0.5"] <= q["0.9"]).all()
        np.testing.assert_allclose(q["0.5"], forecast.quantile(0.5), rtol=1e-5, atol=1e-5)


def test_defaults_are_gluonts_ones(served):
    """No configuration: GluonTS's defaults (mean and 0.1/0.5/0.9 quantiles), freq from the server."""
    url, predictor, entries = served
    response = invoke(url, {"instances": request_body(entries[:1])["instances"]})
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert set(prediction) == {"mean", "quantiles"}
    assert set(prediction["quantiles"]) == {"0.1", "0.5", "0.9"}
    assert len(prediction["mean"]) == predictor.prediction_length


GOOD = {"start": "2015-07-01 12:00", "target": [1.0, 2.0, 3.0]}
MALFORMED = {
    "not json": (b"{not json", "the body is not valid JSON"),
    "a list": ([GOOD], 'the body must be a JSON object {"instances": [...], "configuration": {...}}'),
    "no instances": (
        {"configuration": {}},
        '"instances" must be a non-empty list of series ({"start": ..., "target": [...]})',
    ),
    "empty instances": (
        {"instances": []},
        '"instances" must be a non-empty list of series ({"start": ..., "target": [...]})',
    ),
    "no target": ({"instances": [{"start": "2015-07-01 12:00"}]}, "instances[0]: no target"),
    "no start": ({"instances": [GOOD, {"target": [1.0]}]}, "instances[1]: no start"),
    "text target": (
        {"instances": [{**GOOD, "target": [1.0, "abc"]}]},
        "instances[0]: non-numeric target values (could not convert string to float: 'abc')",
    ),
    "empty target": (
        {"instances": [{**GOOD, "target": []}]},
        "instances[0]: empty target",
    ),
    "bad start": (
        {"instances": [{**GOOD, "start": "yesterday"}]},
        "instances[0]: start 'yesterday' does not parse as a time of frequency H "
        "(Unknown datetime string format, unable to parse: YESTERDAY)",
    ),
    "zero samples": (
        {"instances": [GOOD], "configuration": {"num_samples": 0}},
        "configuration.num_samples must be an integer in [1, 10000], got 0",
    ),
    "text samples": (
        {"instances": [GOOD], "configuration": {"num_samples": "many"}},
        "configuration.num_samples: value is not a valid integer",
    ),
    "output type": (
        {"instances": [GOOD], "configuration": {"output_types": ["mean", "median"]}},
        "configuration.output_types.1: unexpected value; permitted: 'mean', 'samples', 'quantiles'",
    ),
    "quantile": (
        {"instances": [GOOD], "configuration": {"quantiles": ["0.1", "1.5"]}},
        "configuration.quantiles: '1.5' is not a quantile level in (0, 1) like '0.1'",
    ),
    "seed": (
        {"instances": [GOOD], "configuration": {"seed": -1}},
        "configuration.seed must be a non-negative integer, got -1",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_request_is_a_400_naming_the_problem(served, case):
    body, message = MALFORMED[case]
    response = invoke(served[0], content=body) if isinstance(body, bytes) else invoke(served[0], body)
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_wrong_route_and_method_are_json_4xx(served):
    assert httpx.get(f"{served[0]}/invocations").status_code == 405
    response = httpx.get(f"{served[0]}/nowhere")
    assert response.status_code == 404 and "error" in response.json()


def test_server_still_serves_after_malformed_requests(served):
    url, _, entries = served
    assert httpx.get(f"{url}/ping").status_code == 200
    assert invoke(url, request_body(entries[:1], num_samples=4)).status_code == 200


def test_freq_is_required_when_neither_request_nor_model_gives_it():
    with pytest.raises(RequestError) as err:
        check_configuration({}, None)
    assert str(err.value) == "configuration.freq is required: the predictor does not record its frequency"


def test_readme_example_with_a_short_history(served):
    """The README's request: four points of history (shorter than the context) are padded like GluonTS does."""
    body = {
        "instances": [{"start": "2015-07-01 12:00", "target": [605.0, 586.0, 586.0, 559.0]}],
        "configuration": {"num_samples": 100, "output_types": ["mean", "quantiles", "samples"], "seed": 0},
    }
    response = invoke(served[0], body)
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert np.asarray(prediction["samples"]).shape == (100, served[1].prediction_length)


def test_infinite_values_are_missing_values_as_in_training(served):
    """``Infinity`` in a history is masked like ``NaN`` (the estimator's own input check): a finite forecast."""
    body = {"instances": [{**GOOD, "target": [605.0, "Infinity", 586.0, None, 559.0]}], "configuration": {"seed": 0}}
    response = invoke(served[0], body)
    assert response.status_code == 200, response.text
    assert np.isfinite(response.json()["predictions"][0]["mean"]).all()
