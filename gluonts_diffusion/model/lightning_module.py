"""``DiffusionLightningModule``: the thin Lightning wrapper (loss, optimizer, EMA of the weights; the
architecture's own training callbacks)."""

from typing import Any, Dict, List, Optional

import lightning.pytorch as pl
import torch
from gluonts.core.component import validated
from gluonts.torch.model.lightning_util import has_validation_loop
from torch.optim.swa_utils import AveragedModel

from .module import DiffusionModel

#: validation batch ``i`` draws its diffusion times and noise from a generator seeded ``VALIDATION_SEED + i``: every
#: epoch scores the same draws, so the monitored ``val_loss`` (checkpoint choice, learning-rate schedule) compares
#: epochs by their weights alone, not by which noise levels a batch happened to draw
VALIDATION_SEED = 7919


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

    Behaviour a component needs while training arrives as the callbacks its architecture supplies
    (:meth:`BaseArchitecture.training_callbacks`, e.g. an ensemble learning its weights); they reach
    :attr:`sampling_model` and the ``model``/``ema`` pair through this module.
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

    @property
    def sampling_model(self) -> DiffusionModel:
        """The weights used for prediction: the EMA once it has been updated, else the trained ones."""
        if self.ema is not None and int(self.ema.n_averaged) > 0:
            return self.ema.module
        return self.model

    def forward(self, *args, **kwargs):
        return self.sampling_model(*args, **kwargs)

    def configure_callbacks(self) -> List[pl.Callback]:
        return self.model.architecture.training_callbacks()

    def _loss(self, model: DiffusionModel, batch, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        inputs = {name: batch[name] for name in model.describe_inputs(stage="training")}
        return model.loss(**inputs, generator=generator).mean()

    def _has_validation(self) -> bool:
        """Whether the running fit validates (known before the first validation epoch)."""
        return bool(has_validation_loop(self.trainer)) and self.trainer.limit_val_batches != 0

    def training_step(self, batch, batch_idx: int):
        loss = self._loss(self.model, batch)
        if not torch.isfinite(loss):  # Lightning trains on through NaN by default, ruining every weight
            raise FloatingPointError(
                f"training loss is {float(loss)} at epoch {self.current_epoch}, batch {batch_idx}: training stopped; "
                "check the data for extreme values, or lower lr"
            )
        self.log(
            "train_loss", loss, on_epoch=True, on_step=False, prog_bar=True, batch_size=batch["past_target"].shape[0]
        )
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def validation_step(self, batch, batch_idx: int):
        generator = torch.Generator(device=batch["past_target"].device).manual_seed(VALIDATION_SEED + batch_idx)
        loss = self._loss(self.sampling_model, batch, generator)
        self.log(
            "val_loss", loss, on_epoch=True, on_step=False, prog_bar=True, batch_size=batch["past_target"].shape[0]
        )
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
