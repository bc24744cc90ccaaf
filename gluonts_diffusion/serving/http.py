"""GluonTS's SageMaker-style inference API for a saved predictor (``GET /ping``, ``POST /invocations``).

The contract is GluonTS's own (:mod:`gluonts.shell.serve`), so clients of its serving containers work
unchanged: a request is ``{"instances": [{"start": ..., "target": [...]}, ...], "configuration":
{"num_samples": 100, "output_types": ["mean", "quantiles", "samples"], "quantiles": ["0.1", "0.9"]}}`` and
the answer ``{"predictions": [{"mean": [...], "quantiles": {"0.1": [...]}, "samples": [[...]]}, ...]}``, one
prediction per instance, in order. GluonTS's ``ForecastConfig`` (output formatting), ``handle_predictions``
and base app (``/ping``, ``/execution-parameters``) are reused; what is ours is the checking of a request
(a malformed one gets a 400 JSON ``{"error": ...}`` naming what is wrong, never a 500), ``freq`` defaulting
to the predictor's, and an optional ``configuration.seed`` that fixes the forecast (``torch.manual_seed``).
"""

from __future__ import annotations

import logging
import math
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch
from flask import Flask, Response, jsonify, request
from gluonts.dataset.jsonl import encode_json
from gluonts.model.forecast import Quantile
from gluonts.model.predictor import Predictor
from gluonts.pydantic import ValidationError
from gluonts.shell.serve.app import ForecastConfig, get_base_app, handle_predictions
from werkzeug.exceptions import HTTPException

from .entries import BadRow, entry_from_row

logger = logging.getLogger(__name__)

#: the most sample paths one request may ask for per series
MAX_SAMPLES = 10_000


class RequestError(ValueError):
    """A malformed request: answered with a 400 and this message."""


def check_instances(instances: Any, freq: str, target_dim: int = 1) -> List[Dict[str, Any]]:
    """The request's ``instances`` as checked GluonTS entries (the predict command's own check,
    :func:`~gluonts_diffusion.serving.entries.entry_from_row`, so a series is refused for the same reason
    everywhere; infinite values are missing values, as in training)."""
    if not isinstance(instances, list) or not instances:
        raise RequestError('"instances" must be a non-empty list of series ({"start": ..., "target": [...]})')
    entries = []
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise RequestError(f"instances[{i}] must be an object with start and target, got {instance!r:.80}")
        try:
            entries.append(entry_from_row(instance, freq, target_dim))
        except BadRow as err:
            raise RequestError(f"instances[{i}]: {err}") from None
    return entries


def _validation_message(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]).replace("num_eval_samples", "num_samples")
    return f"configuration.{where}: {first['msg']}"


def check_configuration(configuration: Any, default_freq: Optional[str]) -> ForecastConfig:
    """GluonTS's ``ForecastConfig`` of a request, ``freq`` defaulting to the predictor's; every value checked."""
    configuration = {} if configuration is None else configuration
    if not isinstance(configuration, dict):
        raise RequestError(f'"configuration" must be an object, got {configuration!r:.80}')
    configuration = dict(configuration)
    if configuration.get("freq") is None:
        if default_freq is None:
            raise RequestError("configuration.freq is required: the predictor does not record its frequency")
        configuration["freq"] = default_freq
    try:
        config = ForecastConfig.parse_obj(configuration)
    except ValidationError as err:
        raise RequestError(_validation_message(err)) from None
    if isinstance(configuration.get("num_samples"), bool) or not 1 <= config.num_samples <= MAX_SAMPLES:
        raise RequestError(
            f"configuration.num_samples must be an integer in [1, {MAX_SAMPLES}], got {config.num_samples}"
        )
    for name in config.quantiles:
        try:
            value = Quantile.parse(name).value
        except ValueError:
            value = math.nan
        if not 0 < value < 1:
            raise RequestError(f"configuration.quantiles: {name!r} is not a quantile level in (0, 1) like '0.1'")
    seed = configuration.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise RequestError(f"configuration.seed must be a non-negative integer, got {seed!r}")
    return config


def parse_request(
    body: Any, default_freq: Optional[str], target_dim: int = 1
) -> Tuple[List[Dict[str, Any]], ForecastConfig]:
    """The checked instances and configuration of an ``/invocations`` body (raises :class:`RequestError`)."""
    if not isinstance(body, dict):
        raise RequestError('the body must be a JSON object {"instances": [...], "configuration": {...}}')
    config = check_configuration(body.get("configuration"), default_freq)
    return check_instances(body.get("instances"), config.freq, target_dim), config


def predictions(predictor: Predictor, instances: List[Dict[str, Any]], config: ForecastConfig) -> List[dict]:
    """One JSON-able prediction per instance (GluonTS's ``handle_predictions``), seeded if the request asks."""
    seed = config.dict().get("seed")
    if seed is not None:
        torch.manual_seed(seed)
    return encode_json(handle_predictions(predictor, instances, config))


def _error(message: str, status: int) -> Tuple[Response, int]:
    return jsonify(error=message), status


def make_app(predictor: Predictor, freq: Optional[str] = None, max_content_length: int = 6 * 1024 * 1024) -> Flask:
    """The Flask app serving ``predictor``; ``freq`` is used when a request does not give one."""
    default_freq = freq or getattr(predictor, "freq", None)
    target_dim = int(
        getattr(getattr(predictor, "prediction_net", None), "hparams", {}).get("model_kwargs", {}).get("target_dim", 1)
    )
    megabytes = max_content_length // (1024 * 1024)
    app = get_base_app({"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": megabytes})
    app.config["MAX_CONTENT_LENGTH"] = max_content_length

    @app.errorhandler(RequestError)
    def bad_request(err: RequestError):
        return _error(str(err), 400)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        return _error(f"{err.name}: {err.description}", err.code or 500)

    @app.errorhandler(Exception)
    def internal_error(err: Exception):
        logger.exception("invocation failed")
        return _error(f"prediction failed ({type(err).__name__}: {err})", 500)

    @app.route("/invocations", methods=["POST"])
    def invocations():
        body = request.get_json(force=True, silent=True)
        if body is None:
            raise RequestError("the body is not valid JSON")
        instances, config = parse_request(body, default_freq, target_dim)
        return jsonify(predictions=predictions(predictor, instances, config))

    return app


def request_body(entries: List[Mapping[str, Any]], **configuration: Any) -> Dict[str, Any]:
    """The ``/invocations`` body for GluonTS entries (``start`` as a string, ``target`` as a list)."""
    instances = [
        {
            **{k: v for k, v in entry.items() if k not in ("start", "target")},
            "start": str(entry["start"]),
            "target": np.asarray(entry["target"]).tolist(),
        }
        for entry in entries
    ]
    return {"instances": encode_json(instances), "configuration": configuration}


def wait_until_ready(url: str, timeout: float = 60.0, process: Optional[subprocess.Popen] = None) -> None:
    """Block until ``GET {url}/ping`` answers 200; raises ``RuntimeError`` if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before answering {url}/ping")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"{url}/ping did not answer within {timeout:.0f} s")
