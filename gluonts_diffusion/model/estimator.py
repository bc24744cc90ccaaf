"""``DiffusionEstimator``: any combination of diffusion components as one GluonTS estimator.

Follows the layout of GluonTS's own torch models (DeepAR): a transformation chain adding the
observed-values mask, time features and age; instance splitters for training, validation and
prediction; a Lightning module for training; a :class:`DiffusionPredictor` whose forecasts are
``SampleForecast`` s of shape (num_samples, prediction_length[, target_dim]).
"""

from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from gluonts.core.component import validated
from gluonts.dataset.common import Dataset
from gluonts.dataset.field_names import FieldName
from gluonts.dataset.loader import as_stacked_batches
from gluonts.itertools import Cyclic
from gluonts.time_feature import get_lags_for_frequency, get_seasonality, time_features_from_frequency_str
from gluonts.torch.model.estimator import PyTorchLightningEstimator
from gluonts.transform import (
    AddAgeFeature,
    AddObservedValuesIndicator,
    AddTimeFeatures,
    AsNumpyArray,
    Chain,
    ExpectedNumInstanceSampler,
    InstanceSampler,
    InstanceSplitter,
    SelectFields,
    TestSplitSampler,
    Transformation,
    ValidationSplitSampler,
    VstackFeatures,
)

from gluonts_diffusion.core.component import check_int
from gluonts_diffusion.data.checks import CheckEntries, DataError

from .calibration import calibrate, calibration_plan, check_calibration
from .config import estimator_arguments, validate_model_config
from .given_window import DEFAULT_IMPUTATION_ANCHOR, check_forecast_anchor, imputation_option
from .lightning_module import DiffusionLightningModule
from .options import check_clip_x0, check_compile
from .predictor import DiffusionPredictor
from .specs import DEFAULT_COMPONENTS, component_spec


def component_choices(**choices: Tuple[Optional[str], Optional[Dict[str, Any]]]) -> Dict[str, Dict[str, Any]]:
    """The validated component spec of ``kind=(name, kwargs)`` pairs (see :func:`component_spec`)."""
    return component_spec(
        {kind: name for kind, (name, _) in choices.items()}, {kind: kwargs for kind, (_, kwargs) in choices.items()}
    )


#: estimator arguments that are integers >= 1 (or None for their default)
POSITIVE_ARGUMENTS = (
    "prediction_length",
    "context_length",
    "target_dim",
    "num_parallel_samples",
    "batch_size",
    "num_batches_per_epoch",
    "predict_batch_size",
)


#: sample paths per network call when sampling on CPU and ``predict_batch_size`` is not given: the cost per path
#: grows with the call's size (the activations leave the caches), so 400 paths (4 series of 100 samples) predict
#: m4_hourly ~30-40% faster than 64 series for the transformer, and faster still for the cnn
#: (``evaluation/bench_batch_size.py``, 1 thread)
CPU_PREDICT_PATHS = 400


def default_predict_batch_size(batch_size: int, num_parallel_samples: int) -> int:
    """Series per prediction batch when not given: ``batch_size`` on a GPU, else :data:`CPU_PREDICT_PATHS`
    sample paths per call (at least one series)."""
    if torch.cuda.is_available():
        return batch_size
    return max(1, CPU_PREDICT_PATHS // num_parallel_samples)


def check_arguments(arguments: Dict[str, Any]) -> None:
    """Each of :data:`POSITIVE_ARGUMENTS` in ``arguments`` is None or an integer >= 1; else ``ValueError``
    naming the argument."""
    for name in POSITIVE_ARGUMENTS:
        if arguments.get(name) is not None:
            check_int(name, arguments[name], 1)


def default_lags(freq: str, context_length: int) -> List[int]:
    """GluonTS's lags for ``freq`` that reach at most ``2 * context_length`` steps back."""
    return [lag for lag in get_lags_for_frequency(freq) if lag <= 2 * context_length]


class DiffusionEstimator(PyTorchLightningEstimator):
    """A diffusion forecaster assembled from registered components.

    Each component is chosen by its registry name and a ``<kind>_kwargs`` dict: ``preprocessing``,
    ``architecture``, ``noise``, ``sde``, ``objective``, ``sampler`` (see ``Registry.list(kind)``).

    Args:
        freq: pandas frequency of the data (for time features and lags).
        prediction_length: forecast horizon.
        context_length: history the denoiser sees (default ``4 * prediction_length``).
        lags_seq: lags of the target used as features (default: GluonTS's lags for ``freq`` up to
            twice the context length).
        target_dim: 1 (univariate) or the dimension of a multivariate target ``(dim, T)``.
        num_parallel_samples: sample paths per series per network call at prediction time.
        condition_dropout, guidance_scale: classifier-free guidance (0 = unconditional, 1 = conditional).
        clip_x0: at sampling, clamp the predicted clean window to ``clip_x0`` ranges beyond the scaled
            history's extremes, per series (:class:`DiffusionModel`); ``None`` (default): off.
        imputation: train on CSDI's masks (random points / a block of the window given, history points hidden)
            so the predictor also imputes missing values (:func:`gluonts_diffusion.impute`); off by default.
            ``True`` diffuses the window relative to the linear interpolation of what is known, in units of a
            random walk's spread there, with the seasonal fill of what is known as a feature
            (:meth:`imputation_season`); an anchor name (``bridge``, ``linear``, ``none``:
            :class:`DiffusionModel`'s ``imputation_anchor``) chooses.
        forecast_anchor: what a forecasting model (imputation off) diffuses the scaled window relative to:
            ``"none"`` (default) the window itself; ``"bridge"`` its change from the last observed value in units of
            a random walk's spread from there; ``"linear"`` the change alone (:class:`DiffusionModel`).
        calibration: ``"quantile"`` or ``"spread"``: :meth:`train` returns the predictor recalibrated on validation
            windows (:func:`gluonts_diffusion.calibrate`); ``"auto"`` (default): ``"quantile"``, fitted on one
            held-out window of each training series (or on ``validation_data``) when the windows come from at
            least 52 series, else none (:func:`~gluonts_diffusion.model.calibration.calibration_plan`); ``None`` /
            ``False``: off. :meth:`from_config` takes it from ``training.calibration`` (unset: off).
        lr, weight_decay, ema_decay, patience: optimisation (AdamW; EMA of the weights used to sample).
        batch_size, num_batches_per_epoch: training batches; ``predict_batch_size`` series per
            prediction batch (default: ``batch_size`` on a GPU, else as many as make 400 sample paths per
            network call, 4 series of 100 samples: smaller calls sample faster on CPU, see
            :func:`default_predict_batch_size`).
        trainer_kwargs: passed to ``lightning.pytorch.Trainer`` (``max_epochs``, ``accelerator``,
            ``devices``, ``strategy``, ``default_root_dir``, ``callbacks``, ...). Mixed precision is
            Lightning's ``precision`` (``"bf16-mixed"``, ``"16-mixed"`` on GPU): the network runs under
            autocast while the diffusion math and the sampler stay in float32.
        compile: ``torch.compile`` the architecture's per-step forward: ``False`` (default), ``True`` or
            a dict of ``torch.compile`` arguments (e.g. ``{"mode": "reduce-overhead"}``,
            ``{"backend": "eager"}``). The first batches pay the compilation.
        gradient_checkpointing: recompute the architecture's blocks (transformer layers, residual
            blocks...) in the backward pass instead of storing their activations: less memory for long
            windows or wide models, same loss and gradients, about a third more compute per step.
        train_sampler, validation_sampler: GluonTS instance samplers. By default every training window
            has at least ``min(context_length, prediction_length)`` steps of history (windows of pure padding
            carry no information and cannot be scaled), unless no series is long enough for that.

    Series of any lengths (and with missing values) batch together: every training/prediction window
    is cut to ``context_length + max(lags_seq)`` steps of history by GluonTS's instance splitter, which
    left-pads shorter histories with zeros and an observed-values indicator of 0 there; the model masks
    every use of the history with that indicator (see :mod:`gluonts_diffusion.model.module`). A series
    shorter than the horizon can still be forecast; training windows need ``prediction_length``
    future steps.

    An ``ensemble`` architecture without ``weights`` learns them: a ``weighted_mean`` by the training loss,
    with its members; a ``mixture`` from its members' own losses on the validation data
    (``train(..., validation_data=...)``), else on the training batches (:class:`DiffusionLightningModule`).
    """

    @validated()
    def __init__(
        self,
        freq: str,
        prediction_length: int,
        context_length: Optional[int] = None,
        preprocessing: str = DEFAULT_COMPONENTS["preprocessing"],
        preprocessing_kwargs: Optional[Dict[str, Any]] = None,
        architecture: str = DEFAULT_COMPONENTS["architecture"],
        architecture_kwargs: Optional[Dict[str, Any]] = None,
        noise: str = DEFAULT_COMPONENTS["noise"],
        noise_kwargs: Optional[Dict[str, Any]] = None,
        sde: str = DEFAULT_COMPONENTS["sde"],
        sde_kwargs: Optional[Dict[str, Any]] = None,
        objective: str = DEFAULT_COMPONENTS["objective"],
        objective_kwargs: Optional[Dict[str, Any]] = None,
        sampler: str = DEFAULT_COMPONENTS["sampler"],
        sampler_kwargs: Optional[Dict[str, Any]] = None,
        lags_seq: Optional[List[int]] = None,
        target_dim: int = 1,
        num_parallel_samples: int = 100,
        condition_dropout: float = 0.0,
        guidance_scale: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-8,
        ema_decay: Optional[float] = 0.999,
        patience: int = 10,
        batch_size: int = 64,
        num_batches_per_epoch: int = 50,
        predict_batch_size: Optional[int] = None,
        trainer_kwargs: Optional[Dict[str, Any]] = None,
        train_sampler: Optional[InstanceSampler] = None,
        validation_sampler: Optional[InstanceSampler] = None,
        compile: Union[bool, Dict[str, Any]] = False,
        gradient_checkpointing: bool = False,
        clip_x0: Optional[float] = None,
        imputation: Union[bool, str] = False,
        forecast_anchor: str = "none",
        calibration: Union[bool, str, None] = "auto",
    ) -> None:
        super().__init__(trainer_kwargs={"max_epochs": 100, "gradient_clip_val": 10.0, **(trainer_kwargs or {})})
        arguments = locals()
        check_arguments(arguments)
        self.freq, self.prediction_length, self.target_dim = freq, int(prediction_length), int(target_dim)
        self.context_length = int(context_length or 4 * prediction_length)
        self.calibration = check_calibration(calibration)
        self.components = component_choices(**{k: (arguments[k], arguments[f"{k}_kwargs"]) for k in DEFAULT_COMPONENTS})
        self.lags_seq = list(lags_seq) if lags_seq is not None else default_lags(freq, self.context_length)
        self.time_features = time_features_from_frequency_str(freq)
        self.num_parallel_samples, self.imputation_anchor = num_parallel_samples, imputation_option(imputation)
        self.forecast_anchor = check_forecast_anchor(forecast_anchor, self.imputation)
        self.condition_dropout, self.guidance_scale = condition_dropout, guidance_scale
        self.lr, self.weight_decay, self.ema_decay, self.patience = lr, weight_decay, ema_decay, patience
        self.batch_size, self.num_batches_per_epoch = batch_size, num_batches_per_epoch
        self.predict_batch_size = predict_batch_size or default_predict_batch_size(batch_size, num_parallel_samples)
        self.min_past = min(self.context_length, prediction_length)
        self.train_sampler, self.validation_sampler = train_sampler, validation_sampler
        self.compile = check_compile(compile)  # here, not at the first batch
        self.gradient_checkpointing, self.clip_x0 = bool(gradient_checkpointing), check_clip_x0(clip_x0)

    def train(
        self, training_data: Dataset, validation_data: Optional[Dataset] = None, *args, **kwargs
    ) -> DiffusionPredictor:
        """GluonTS's ``train``. With ``calibration``, the predictor returned is recalibrated by a map fitted on
        ``validation_data``'s last windows or, when none is given, on the last windows of the training series,
        which are then held out of training and choose its checkpoint (``calibration_plan`` in
        :mod:`~gluonts_diffusion.model.calibration`). ``train_model`` and ``train_from`` are GluonTS's own: they
        do not calibrate."""
        training_data, validation_data, method = calibration_plan(
            self.calibration, training_data, validation_data, self.prediction_length
        )
        predictor = super().train(training_data, validation_data, *args, **kwargs)
        return predictor if method is None else calibrate(predictor, validation_data, method)

    @classmethod
    def from_config(cls, source, dataset_path=None, **overrides) -> "DiffusionEstimator":
        """Build the estimator a YAML config (path or dict) describes; see :mod:`gluonts_diffusion.model.config`.

        ``freq`` and ``prediction_length`` come from ``data.freq`` / ``data.prediction_length`` or else from the
        dataset's metadata; ``overrides`` replace any resulting argument.
        """
        return cls(**estimator_arguments(validate_model_config(source), dataset_path, **overrides))

    # ------------------------------------------------------------------ model
    def model_kwargs(self) -> Dict[str, Any]:
        """JSON-able arguments of :class:`DiffusionModel` for this estimator."""
        return {
            "prediction_length": self.prediction_length,
            "context_length": self.context_length,
            "components": self.components,
            "lags_seq": self.lags_seq,
            "num_time_features": len(self.time_features) + 1,
            "target_dim": self.target_dim,
            "num_parallel_samples": self.num_parallel_samples,
            "condition_dropout": self.condition_dropout,
            "guidance_scale": self.guidance_scale,
            "compile": self.compile,
            "gradient_checkpointing": self.gradient_checkpointing,
            "clip_x0": self.clip_x0,
            "imputation": self.imputation,
            "imputation_anchor": self.imputation_anchor or DEFAULT_IMPUTATION_ANCHOR,
            "imputation_season": self.imputation_season(),
            "forecast_anchor": self.forecast_anchor,
        }

    @property
    def imputation(self) -> bool:
        return self.imputation_anchor is not None

    def imputation_season(self) -> Optional[int]:
        """The season of an imputation model's seasonal-fill feature: GluonTS's ``get_seasonality(freq)``, or
        None (no feature) when imputation is off or the season is 1 or longer than the model's whole span."""
        season = get_seasonality(self.freq)
        return season if self.imputation and 1 < season < self.context_length + self.prediction_length else None

    def create_lightning_module(self) -> DiffusionLightningModule:
        return DiffusionLightningModule(
            model_kwargs=self.model_kwargs(),
            lr=self.lr,
            weight_decay=self.weight_decay,
            ema_decay=self.ema_decay,
            patience=self.patience,
        )

    # ------------------------------------------------------------------ data
    def create_transformation(self) -> Transformation:
        return Chain(
            [
                SelectFields(
                    [FieldName.ITEM_ID, FieldName.INFO, FieldName.START, FieldName.TARGET], allow_missing=True
                ),
                CheckEntries(freq=self.freq, target_dim=self.target_dim),
                AsNumpyArray(field=FieldName.TARGET, expected_ndim=1 if self.target_dim == 1 else 2),
                AddObservedValuesIndicator(target_field=FieldName.TARGET, output_field=FieldName.OBSERVED_VALUES),
                AddTimeFeatures(
                    start_field=FieldName.START,
                    target_field=FieldName.TARGET,
                    output_field=FieldName.FEAT_TIME,
                    time_features=self.time_features,
                    pred_length=self.prediction_length,
                ),
                AddAgeFeature(
                    target_field=FieldName.TARGET,
                    output_field=FieldName.FEAT_AGE,
                    pred_length=self.prediction_length,
                    log_scale=True,
                ),
                VstackFeatures(
                    output_field=FieldName.FEAT_TIME, input_fields=[FieldName.FEAT_TIME, FieldName.FEAT_AGE]
                ),
                AsNumpyArray(FieldName.FEAT_TIME, expected_ndim=2),
            ]
        )

    def _create_instance_splitter(
        self, module: DiffusionLightningModule, mode: str, min_past: Optional[int] = None
    ) -> InstanceSplitter:
        min_past = self.min_past if min_past is None else min_past
        sampler = {
            "training": self.train_sampler
            or ExpectedNumInstanceSampler(num_instances=1.0, min_future=self.prediction_length, min_past=min_past),
            "validation": self.validation_sampler
            or ValidationSplitSampler(min_future=self.prediction_length, min_past=min_past),
            "test": TestSplitSampler(),
        }[mode]
        return InstanceSplitter(
            target_field=FieldName.TARGET,
            is_pad_field=FieldName.IS_PAD,
            start_field=FieldName.START,
            forecast_start_field=FieldName.FORECAST_START,
            instance_sampler=sampler,
            past_length=module.model.past_length,
            future_length=self.prediction_length,
            time_series_fields=[FieldName.FEAT_TIME, FieldName.OBSERVED_VALUES],
            dummy_value=0.0,
        )

    def create_training_data_loader(
        self, data: Dataset, module: DiffusionLightningModule, shuffle_buffer_length: Optional[int] = None, **kwargs
    ) -> Iterable:
        longest = self.check_training_lengths(data)  # one pass: every entry is checked (CheckEntries) up front
        min_past = self.min_past
        if self.train_sampler is None and longest < min_past + self.prediction_length:
            min_past = 0  # no series could give a window otherwise
        splitter = self._create_instance_splitter(module, "training", min_past=min_past)
        instances = splitter.apply(Cyclic(data).stream(), is_train=True)
        return as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            shuffle_buffer_length=shuffle_buffer_length,
            field_names=list(module.model.describe_inputs(stage="training")),
            output_type=torch.tensor,
            num_batches_per_epoch=self.num_batches_per_epoch,
        )

    def check_training_lengths(self, data: Dataset) -> int:
        """The longest target of the (transformed) training data; refuses empty data and data whose every
        series is shorter than one training window (``prediction_length`` future steps and one past step)."""
        lengths = [int(np.shape(entry[FieldName.TARGET])[-1]) for entry in data]
        if not lengths:
            raise DataError("training data is empty: give train() at least one series")
        needed = self.prediction_length + 1
        if max(lengths) < needed:
            shown = ", ".join(map(str, sorted(set(lengths))[-5:]))
            raise DataError(
                f"every training series is too short: lengths {shown} (longest {max(lengths)}), but a training window "
                f"needs at least prediction_length + 1 = {needed} steps; give longer series or a smaller "
                "prediction_length"
            )
        return max(lengths)

    def create_validation_data_loader(self, data: Dataset, module: DiffusionLightningModule, **kwargs) -> Iterable:
        instances = self._create_instance_splitter(module, "validation").apply(data, is_train=True)
        return as_stacked_batches(
            instances,
            batch_size=self.batch_size,
            field_names=list(module.model.describe_inputs(stage="training")),
            output_type=torch.tensor,
        )

    def create_predictor(self, transformation: Transformation, module: DiffusionLightningModule) -> DiffusionPredictor:
        """A :class:`DiffusionPredictor` of ``module``, recording this estimator's ``freq``."""
        return DiffusionPredictor(
            freq=self.freq,
            input_transform=transformation + self._create_instance_splitter(module, "test"),
            input_names=list(module.model.describe_inputs()),
            prediction_net=module,
            batch_size=self.predict_batch_size,
            prediction_length=self.prediction_length,
            device="auto",
        )
