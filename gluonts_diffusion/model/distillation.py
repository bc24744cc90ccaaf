"""``distill``: a trained predictor turned into a K-step one by progressive distillation (Salimans & Ho, 2022).

The math lives in :mod:`gluonts_diffusion.core.distillation`; this module feeds it the model's own training
windows (the estimator's transformation and instance splitter) and trains each stage with a Lightning
``Trainer``, so ``trainer_kwargs`` (``accelerator``, ``devices``, ``precision``, ...) work as in training.
"""

from __future__ import annotations

import copy
import tempfile
from typing import Any, Dict, Iterable, Optional

import lightning.pytorch as pl
import torch
from gluonts.dataset.common import Dataset
from gluonts.torch.model.predictor import PyTorchPredictor

from gluonts_diffusion.core.component import check_int
from gluonts_diffusion.core.distillation import check_nested, default_teacher_steps, distillation_loss, stage_steps
from gluonts_diffusion.core.registry import Registry

from .estimator import DiffusionEstimator
from .module import DiffusionModel
from .predictor import DiffusionPredictor
from .resampling import with_sampler

#: rows per training batch when ``distill`` is not told (the estimator's training default)
DEFAULT_BATCH_SIZE = 64

#: Lightning settings of every stage, under the caller's ``trainer_kwargs``
QUIET = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "gradient_clip_val": 10.0,
}


class DistillationStage(pl.LightningModule):
    """One stage: ``student`` (trained) learns one DDIM step for two of the frozen ``teacher`` on ``grid``.

    Args:
        student, teacher: models of one architecture (the student starts as a copy of the teacher).
        grid: the teacher's ``(2n + 1,)`` times (float64, CPU); the student steps on every other one.
        lr: AdamW learning rate.
    """

    def __init__(self, student: DiffusionModel, teacher: DiffusionModel, grid: torch.Tensor, lr: float) -> None:
        super().__init__()
        self.student, self.teacher = student, teacher.requires_grad_(False)
        self.grid, self.lr = grid, lr

    def on_train_epoch_start(self) -> None:
        # both without dropout, whatever mode the predictor was left in: the student regresses a deterministic
        # target (the teacher's two DDIM steps), and a predictor that has forecast is in eval mode anyway
        self.student.eval()
        self.teacher.eval()

    def training_step(self, batch, batch_idx: int):
        model = self.student
        inputs = {name: batch[name] for name in model.describe_inputs(stage="training")}
        context, future, x0, mask, noise, _ = model._training_inputs(**inputs)
        student = model.denoiser(model.architecture.encode(context, future))
        with torch.no_grad():
            teacher = self.teacher.denoiser(self.teacher.architecture.encode(context, future))
        loss = distillation_loss(student, teacher, x0, mask, model.sde, noise, self.grid).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"distillation loss is {float(loss)} at batch {batch_idx}: lower learning_rate")
        self.log("distill_loss", loss, on_epoch=True, on_step=False, prog_bar=True, batch_size=x0.shape[0])
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.student.parameters(), lr=self.lr)


def distill_grid(model: DiffusionModel, teacher_steps: int, num_steps: int) -> str:
    """The sampler's time grid when it nests from ``num_steps`` to ``teacher_steps``, else ``logsnr``."""
    own = model.sampler.time_grid
    try:
        check_nested(Registry.get("time_grid", own), model.sde, teacher_steps, num_steps, f"time grid {own!r}")
    except ValueError:
        return "logsnr"
    return own


def training_loader(
    predictor: PyTorchPredictor, training_data: Dataset, batch_size: int, num_batches_per_epoch: int
) -> Iterable:
    """Training batches of ``training_data`` cut as the predictor's estimator cut them (its transformation
    and instance splitter, rebuilt from the predictor's ``freq`` and model arguments)."""
    freq = getattr(predictor, "freq", None)
    if freq is None:
        raise ValueError("the predictor does not record its freq: serialize it again with this version")
    net = predictor.prediction_net
    kwargs = net.hparams["model_kwargs"]
    estimator = DiffusionEstimator(
        freq=freq,
        prediction_length=kwargs["prediction_length"],
        context_length=kwargs["context_length"],
        lags_seq=kwargs["lags_seq"],
        target_dim=kwargs["target_dim"],
        batch_size=batch_size,
        num_batches_per_epoch=num_batches_per_epoch,
    )
    transformed = estimator.create_transformation().apply(training_data, is_train=True)
    return estimator.create_training_data_loader(transformed, net)


def first_teacher_steps(predictor: PyTorchPredictor, num_steps: int, teacher_steps: Optional[int] = None) -> int:
    """N, the first teacher's DDIM steps: ``teacher_steps`` if given, else the smallest ``num_steps * 2^m``
    (m >= 1) at least the predictor's own sampler steps; ``ValueError`` unless it is ``num_steps * 2^m``."""
    if teacher_steps is None:
        teacher_steps = default_teacher_steps(num_steps, predictor.prediction_net.sampling_model.sampler.num_steps)
    stage_steps(num_steps, teacher_steps)
    return teacher_steps


def check_settings(model: DiffusionModel, epochs_per_stage: int, num_batches_per_epoch: int, lr: float) -> None:
    """``ValueError`` naming the first bad setting of :func:`distill`."""
    check_int("epochs_per_stage", epochs_per_stage, 1)
    check_int("num_batches_per_epoch", num_batches_per_epoch, 1)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"learning_rate must be a number > 0, got {lr!r}")
    if model.guidance_scale != 1.0:
        raise ValueError(
            f"distill: the predictor samples with guidance_scale {model.guidance_scale}; guided sampling is not "
            "distilled: distill with_sampler(predictor, guidance_scale=1.0)"
        )


def distill(
    predictor: PyTorchPredictor,
    training_data: Dataset,
    num_steps: int = 4,
    *,
    teacher_steps: Optional[int] = None,
    epochs_per_stage: int = 5,
    num_batches_per_epoch: int = 50,
    batch_size: Optional[int] = None,
    learning_rate: float = 1e-4,
    seed: int = 0,
    trainer_kwargs: Optional[Dict[str, Any]] = None,
) -> DiffusionPredictor:
    """A predictor sampling in ``num_steps`` network evaluations, distilled from ``predictor`` (left unchanged).

    Progressive distillation (Salimans & Ho, 2022, Alg. 2): a copy of the network (its EMA weights when it has
    them) learns one deterministic DDIM step for two of the ``teacher_steps``-step DDIM teacher, then becomes
    the teacher: ``N -> N/2 -> ... -> num_steps``, each stage ``epochs_per_stage`` x ``num_batches_per_epoch``
    batches of ``training_data`` (a GluonTS training split, cut by the estimator's own instance splitter).
    The result is an ordinary :class:`DiffusionPredictor` with sampler ``ddim`` (``eta: 0``, ``num_steps``, the
    distillation's time grid) and the student's weights, so it serializes and exports like any other; each
    sample path keeps its own prior draw, so the forecasts stay a distribution.

    Args:
        num_steps: K, the distilled sampler's steps (network evaluations per path).
        teacher_steps: N, the first teacher's DDIM steps, ``K * 2^m`` with ``m >= 1``; default the smallest such
            N at least the predictor's own sampler steps (20 steps, K = 4 -> 32).
        batch_size: rows per training batch (default 64, the estimator's training default; the predictor's own
            ``batch_size`` is its prediction batch).
        learning_rate: AdamW learning rate of every stage.
        seed: seeds Lightning (torch, numpy, random) before the first stage.
        trainer_kwargs: passed to ``lightning.pytorch.Trainer`` (over quiet defaults writing to a temporary
            folder; ``max_epochs`` is ``epochs_per_stage``).

    The time grid is the predictor's sampler's when it nests (its n-step points are every other 2n-step point,
    as ``uniform`` and ``logsnr``), else ``logsnr``. A predictor sampling with classifier-free guidance
    (``guidance_scale != 1``) is refused: the student would learn only the conditional network. The student of a
    predictor trained with ``imputation`` learns forecasting steps only (no window values given): it keeps the
    option, but its imputations are not distilled.
    """
    model: DiffusionModel = predictor.prediction_net.sampling_model
    check_settings(model, epochs_per_stage, num_batches_per_epoch, learning_rate)
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else check_int("batch_size", batch_size, 1)
    teacher_steps = first_teacher_steps(predictor, num_steps, teacher_steps)
    stages = stage_steps(num_steps, teacher_steps)  # checked by first_teacher_steps
    grid_name = distill_grid(model, teacher_steps, num_steps)
    pl.seed_everything(seed, verbose=False)
    grid = Registry.get("time_grid", grid_name)
    student = copy.deepcopy(model).requires_grad_(True)  # the predictor stays as it is
    with tempfile.TemporaryDirectory() as root:
        settings = {**QUIET, "default_root_dir": root, **(trainer_kwargs or {}), "max_epochs": epochs_per_stage}
        teacher = copy.deepcopy(model)
        for steps in stages:
            stage = DistillationStage(student, teacher, grid(model.sde, steps), learning_rate)
            loader = training_loader(predictor, training_data, batch_size, num_batches_per_epoch)
            pl.Trainer(**settings).fit(stage, train_dataloaders=loader)
            teacher = copy.deepcopy(student).requires_grad_(False)
    return student_predictor(predictor, student, num_steps, grid_name)


def student_predictor(
    predictor: PyTorchPredictor, student: DiffusionModel, num_steps: int, time_grid: str
) -> DiffusionPredictor:
    """``predictor`` with the ``student``'s weights (trained and EMA) and a ``num_steps`` deterministic DDIM."""
    distilled = with_sampler(predictor, "ddim", {"num_steps": num_steps, "eta": 0.0, "time_grid": time_grid})
    net = distilled.prediction_net
    for target in [net.model] + ([net.ema.module] if net.ema is not None else []):
        target.load_state_dict(student.state_dict())
    return distilled
