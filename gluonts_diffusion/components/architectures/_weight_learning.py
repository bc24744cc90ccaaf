"""``EnsembleWeightLearning``: the Lightning callback a mixture ensemble with learned weights supplies.

Every member's own loss is accumulated over each validation epoch (each training epoch when the fit has no
validation loop), on the weights used for sampling, and at the epoch's end the weights of every learning
ensemble in the LightningModule -- the trained model's and its EMA copy's alike -- are set from the mean
losses. Lightning runs ``ModelCheckpoint`` after the other callbacks, so the checkpoint of that epoch (the
one the estimator restores) carries the weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Protocol, Type, cast

import lightning.pytorch as pl
import torch
from gluonts.torch.model.lightning_util import has_validation_loop

if TYPE_CHECKING:
    from .ensemble import EnsembleArchitecture


class _SamplingModel(Protocol):
    """What the callback uses of the LightningModule's ``sampling_model`` (a ``DiffusionModel``)."""

    training: bool
    architecture: Any

    def train(self, mode: bool = True) -> Any: ...

    def losses_of(self, networks: Any, batch: Mapping[str, torch.Tensor]) -> torch.Tensor: ...


def _has_validation(trainer: pl.Trainer) -> bool:
    """Whether the running fit validates (known before the first validation epoch)."""
    return bool(has_validation_loop(trainer)) and trainer.limit_val_batches != 0


class EnsembleWeightLearning(pl.Callback):
    """Sets the weights of the ``ensemble_class`` instances with ``weights_from_losses`` (mixtures whose weights
    were not given) from their members' losses.

    The LightningModule offers ``sampling_model``: the model that samples (the EMA copy once updated), whose
    ``architecture`` is the ensemble and whose ``losses_of(networks, batch)`` scores several denoisers on one
    draw of times and noise (:meth:`gluonts_diffusion.model.module.DiffusionModel.losses_of`).
    """

    def __init__(self, ensemble_class: Type[EnsembleArchitecture]) -> None:
        self.ensemble_class = ensemble_class
        self._loss_sum: Optional[torch.Tensor] = None
        self._loss_count = 0
        self._training_batch: Optional[Mapping[str, torch.Tensor]] = None

    # ------------------------------------------------------------------ training batches (no validation loop)
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._training_batch = None if _has_validation(trainer) else batch

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        # after the training loss has drawn its times and noise, before the optimizer changes the weights
        if self._training_batch is not None:
            with trainer.precision_plugin.train_step_context():
                self._accumulate(pl_module, self._training_batch)
            self._training_batch = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not _has_validation(trainer):
            self._apply(trainer, pl_module)

    # ------------------------------------------------------------------ validation batches
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            with trainer.precision_plugin.val_step_context():
                self._accumulate(pl_module, batch)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._apply(trainer, pl_module)

    # ------------------------------------------------------------------ bookkeeping
    def _accumulate(self, pl_module: pl.LightningModule, batch: Mapping[str, torch.Tensor]) -> None:
        model = cast(_SamplingModel, pl_module.sampling_model)
        was_training = model.training
        model.train(False)  # score the members as they sample: no dropout
        try:
            losses = model.losses_of(model.architecture.member_networks, batch)
        finally:
            model.train(was_training)
        total = losses.detach().to(torch.float64).sum(1)
        self._loss_sum = total if self._loss_sum is None else self._loss_sum + total
        self._loss_count += losses.shape[1]

    def _apply(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Set the weights from the accumulated losses (summed over every process, so all agree)."""
        if self._loss_sum is None or not self._loss_count:
            return
        total = self._loss_sum
        count = torch.tensor(float(self._loss_count))
        if trainer.world_size > 1:
            total = trainer.strategy.reduce(total, reduce_op="sum")
            count = trainer.strategy.reduce(count.to(total.device), reduce_op="sum")
        mean = (total.cpu() / count.cpu()).tolist()
        self._loss_sum, self._loss_count = None, 0
        for module in pl_module.modules():
            if isinstance(module, self.ensemble_class) and module.weights_from_losses:
                module.set_weights_from_losses(mean)
