"""What the benchmark scripts share: quiet Lightning settings and a timed training run."""

from __future__ import annotations

import time
from typing import Any, Dict, Tuple


def quiet_trainer(epochs: int, root_dir: str, **extra: Any) -> Dict[str, Any]:
    """Lightning settings for ``epochs`` epochs writing under ``root_dir``: no progress bar, no logger."""
    return {"max_epochs": epochs, "enable_progress_bar": False, "logger": False, "default_root_dir": root_dir, **extra}


def train_timed(estimator, train) -> Tuple[Any, float]:
    """``(predictor, seconds)``: ``estimator`` trained on ``train``, timed."""
    start = time.perf_counter()
    predictor = estimator.train(train)
    return predictor, time.perf_counter() - start
