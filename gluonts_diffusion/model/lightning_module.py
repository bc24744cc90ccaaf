"""``DiffusionLightningModule``: the thin Lightning wrapper (loss, optimizer, EMA of the weights)."""
from typing import Any, Dict, Optional

import lightning.pytorch as pl
import torch
from gluonts.core.component import validated
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .module import DiffusionModel

INPUT_NAMES = ["past_target", "past_observed_values", "past_time_feat", "future_time_feat"]
TRAINING_INPUT_NAMES = INPUT_NAMES + ["future_target", "future_observed_values"]


class DiffusionLightningModule(pl.LightningModule):
    """Trains a :class:`DiffusionModel`; predicts with its exponential moving average when ``ema_decay`` is set.

    Args:
        model_kwargs: arguments of :class:`DiffusionModel` (JSON-able, so predictors serialize).
        lr, weight_decay: AdamW settings.
        ema_decay: decay of the weight EMA used for sampling (None disables it).
        patience: epochs without improvement of the monitored loss before the learning rate halves.
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
            AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
            if ema_decay
            else None
        )

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

    def training_step(self, batch, batch_idx: int):
        loss = self._loss(self.model, batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False, prog_bar=True, batch_size=batch["past_target"].shape[0])
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def validation_step(self, batch, batch_idx: int):
        loss = self._loss(self.sampling_model, batch)
        self.log("val_loss", loss, on_epoch=True, on_step=False, prog_bar=True, batch_size=batch["past_target"].shape[0])
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        monitor = "val_loss" if self.trainer is not None and self.trainer.val_dataloaders else "train_loss"
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=self.patience)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": monitor}}
