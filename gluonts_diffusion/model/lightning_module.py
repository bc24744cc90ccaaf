"""``DiffusionLightningModule``: the thin Lightning wrapper (loss, optimizer, EMA of the weights,
ensemble weights from the members' losses)."""

from typing import Any, Dict, List, Optional

import lightning.pytorch as pl
import torch
from gluonts.core.component import validated
from torch.optim.swa_utils import AveragedModel

from .module import DiffusionModel

INPUT_NAMES = ["past_target", "past_observed_values", "past_time_feat", "future_time_feat"]
TRAINING_INPUT_NAMES = INPUT_NAMES + ["future_target", "future_observed_values"]


def ema_with_warmup(decay: float):
    """EMA update ``avg <- d avg + (1 - d) param`` with ``d = min(decay, (1 + n) / (10 + n))`` after n updates.

    The warm-up (as TensorFlow's ExponentialMovingAverage with ``num_updates``) keeps a short training run
    from averaging in its first, untrained weights: with a plain 0.999 decay, 1000 steps still give the
    initial weights a third of the average.
    """

    @torch.no_grad()
    def update(averaged, current, num_averaged):
        step = float(num_averaged)
        d = min(decay, (1.0 + step) / (10.0 + step))
        torch._foreach_lerp_(averaged, current, 1.0 - d)

    return update


class DiffusionLightningModule(pl.LightningModule):
    """Trains a :class:`DiffusionModel`; predicts with its exponential moving average when ``ema_decay`` is set.

    Args:
        model_kwargs: arguments of :class:`DiffusionModel` (JSON-able, so predictors serialize).
        lr, weight_decay: AdamW settings.
        ema_decay: decay of the weight EMA used for sampling (None disables it).
        patience: epochs without improvement of the monitored loss before the learning rate halves.

    Ensembles with learned weights (architecture ``ensemble`` without ``weights``): every member's own
    loss is accumulated over each validation epoch (each training epoch when there is no validation
    data) with :meth:`DiffusionModel.member_losses`, on the weights used for sampling, and at the
    epoch's end the ensemble's weights are set from the mean losses, in the trained model and in its EMA
    copy alike -- before Lightning's checkpoint of that epoch is written, so the best checkpoint the
    estimator restores carries them. ``ensemble_member_losses`` keeps the last mean losses.
    """

    @validated()
    def __init__(
        self,
        model_kwargs: Dict[str, Any],
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        ema_decay: Optional[float] = 0.999,
        patience: int = 10,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = DiffusionModel(**model_kwargs)
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.ema = (
            AveragedModel(self.model, multi_avg_fn=ema_with_warmup(ema_decay), use_buffers=True).requires_grad_(False)
            if ema_decay
            else None
        )
        #: mean loss of each ensemble member behind the current weights (None until first set)
        self.ensemble_member_losses: Optional[List[float]] = None
        self._member_loss_sum: Optional[torch.Tensor] = None
        self._member_loss_count = 0

    @property
    def sampling_model(self) -> DiffusionModel:
        """The weights used for prediction: the EMA once it has been updated, else the trained ones."""
        if self.ema is not None and int(self.ema.n_averaged) > 0:
            return self.ema.module
        return self.model

    def forward(self, *args, **kwargs):
        return self.sampling_model(*args, **kwargs)

    def _loss(self, model: DiffusionModel, batch) -> torch.Tensor:
        return model.loss(**{name: batch[name] for name in TRAINING_INPUT_NAMES}).mean()

    def _has_validation(self) -> bool:
        """Whether the running fit has validation data (known before the first validation epoch)."""
        trainer = self._trainer
        if trainer is None:
            return False
        try:
            defined = trainer.fit_loop.epoch_loop.val_loop._data_source.is_defined()
        except AttributeError:  # another Lightning version: fall back to the loaded dataloaders
            defined = trainer.val_dataloaders is not None
        return bool(defined) and trainer.limit_val_batches != 0

    def training_step(self, batch, batch_idx: int):
        loss = self._loss(self.model, batch)
        self.log(
            "train_loss", loss, on_epoch=True, on_step=False, prog_bar=True, batch_size=batch["past_target"].shape[0]
        )
        if self.model.learns_ensemble_weights and not self._has_validation():
            self._accumulate_member_losses(batch)
        return loss

    # ------------------------------------------------------------------ ensemble weights
    def _accumulate_member_losses(self, batch) -> None:
        model = self.sampling_model
        was_training = model.training
        model.eval()  # score the members as they sample: no dropout
        try:
            losses = model.member_losses(**{name: batch[name] for name in TRAINING_INPUT_NAMES})
        finally:
            model.train(was_training)
        total = losses.detach().to(torch.float64).sum(1)
        self._member_loss_sum = total if self._member_loss_sum is None else self._member_loss_sum + total
        self._member_loss_count += losses.shape[1]

    def _apply_member_losses(self) -> None:
        """Set the ensemble weights of the trained model and of its EMA copy from the accumulated losses."""
        if self._member_loss_sum is None or not self._member_loss_count:
            return
        total = self._member_loss_sum
        if self._trainer is not None and self._trainer.world_size > 1:  # every process gets the same weights
            total = self.trainer.strategy.reduce(total, reduce_op="sum")
            count = self.trainer.strategy.reduce(
                torch.tensor(float(self._member_loss_count), device=total.device), reduce_op="sum"
            )
        else:
            count = torch.tensor(float(self._member_loss_count))
        mean = (total.cpu() / count.cpu()).tolist()
        self._member_loss_sum, self._member_loss_count = None, 0
        self.set_ensemble_weights(mean)

    def set_ensemble_weights(self, losses) -> torch.Tensor:
        """Set the ensemble's weights from per-member ``losses`` in the trained model and in the EMA copy
        (the model that samples); returns the weights."""
        self.ensemble_member_losses = [float(v) for v in losses]
        weights = self.model.set_ensemble_weights(self.ensemble_member_losses)
        if self.ema is not None:
            self.ema.module.set_ensemble_weights(self.ensemble_member_losses)
        return weights

    def on_train_epoch_end(self) -> None:
        if self.model.learns_ensemble_weights and not self._has_validation():
            self._apply_member_losses()

    def on_validation_epoch_end(self) -> None:
        if self.model.learns_ensemble_weights and not self.trainer.sanity_checking:
            self._apply_member_losses()

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def validation_step(self, batch, batch_idx: int):
        loss = self._loss(self.sampling_model, batch)
        self.log(
            "val_loss", loss, on_epoch=True, on_step=False, prog_bar=True, batch_size=batch["past_target"].shape[0]
        )
        if self.model.learns_ensemble_weights and not self.trainer.sanity_checking:
            self._accumulate_member_losses(batch)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        # validation dataloaders load only after this hook: ask whether the fit has them
        monitor = "val_loss" if self._has_validation() else "train_loss"
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=self.patience
        )
        # strict=False: an epoch without validation (check_val_every_n_epoch > 1) skips the scheduler step
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor, "strict": False}}
