"""``ensemble``: several registered architectures combined by a weighted mean or as a mixture."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, cast, get_args

import torch

from gluonts_diffusion.core.architecture import ArchitectureShapes
from gluonts_diffusion.core.base import BaseArchitecture
from gluonts_diffusion.core.registry import Registry

from ._weight_learning import EnsembleWeightLearning

Aggregation = Literal["weighted_mean", "mixture"]
AGGREGATIONS = get_args(Aggregation)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _row_indexable(cond: Any, rows: int) -> bool:
    """Whether ``cond`` is a tensor, or a plain tuple/list/dict of them, with one row per batch row."""
    if isinstance(cond, torch.Tensor):
        return cond.ndim > 0 and cond.shape[0] == rows
    if isinstance(cond, (tuple, list)) and not hasattr(cond, "_fields"):
        return all(_row_indexable(c, rows) for c in cond)
    if isinstance(cond, dict):
        return all(_row_indexable(c, rows) for c in cond.values())
    return False


def _index_condition(cond: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of a conditioning object accepted by :func:`_row_indexable`."""
    if isinstance(cond, torch.Tensor):
        return cond[index]
    if isinstance(cond, (tuple, list)):
        return type(cond)(_index_condition(c, index) for c in cond)
    return {k: _index_condition(v, index) for k, v in cond.items()}


def _legacy_weights(module: Any, state_dict: Dict[str, Any], prefix: str, *args: Any) -> None:
    """Load a state dict saved when the weights were one ``weights`` buffer (a weighted mean's as its logits)."""
    old = state_dict.pop(prefix + "weights", None)
    if old is not None:
        learned = module.weight_logits is not None
        state_dict[prefix + ("weight_logits" if learned else "fixed_weights")] = torch.log(old) if learned else old


def _call_member(member: BaseArchitecture, cond: Any, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return member(x_t, t, cond)


@Registry.register("architecture", "ensemble")
class EnsembleArchitecture(BaseArchitecture):
    """Ensemble of denoisers (Lakshminarayanan et al., 2017, applied to diffusion denoisers), each
    member built with ``Registry.get("architecture", name, **model_params.get(name, {}))`` and built for the
    ensemble's shapes.

    ``encode`` returns ``{"members": (cond_1, ..., cond_M), "assign": (batch,) member index}``; ``drop``
    is passed to every member.

    * ``weighted_mean``: ``forward = sum_i w_i f_i(x_t, t, cond_i)`` with :attr:`weights` (sums to one).
      The members are trained jointly through this combination, so learned weights (``weights`` omitted)
      are ``softmax(weight_logits)``, a parameter optimised by the same training loss as the members: the
      combination that samples is the one that was trained (setting them afterwards from each member's
      stand-alone loss would sample a combination no member was trained in).
    * ``mixture``: each row (sample path) is denoised by a single member throughout sampling, member
      ``i`` with probability ``w_i`` -- the sample is then a draw from the mixture of the members'
      distributions. The choice is stored in the condition: ``encode`` assigns row ``r`` by the
      low-discrepancy sequence ``u_r = frac((r + 1) * 0.618...)`` through the inverse CDF of ``w``;
      :meth:`repeat_condition` (call it on the instance) assigns the ``k``-th of ``repeats`` sample paths
      of every series by ``u = (k + 0.5) / repeats`` (stratified: each series gets a fraction ``w_i`` of
      its paths from member ``i``). A condition and the null condition repeated alike get the same
      assignment, so classifier-free guidance combines outputs of the same member. ``forward`` evaluates
      each member on its rows only when the member's condition has one row per batch row (tensors and
      plain tuples/lists/dicts of them), else on the whole batch, keeping its rows.

    Args:
        models: registered architecture names (repeats allowed).
        model_params: extra constructor parameters per name.
        aggregation: ``weighted_mean`` or ``mixture``.
        weights: non-negative member weights (normalized to sum to one), kept fixed (the ``fixed_weights``
            buffer). If omitted they start uniform and are learned (``learn_weights``): by the training loss
            for ``weighted_mean`` (above); for ``mixture``, whose members are each trained on their own loss,
            by the :class:`EnsembleWeightLearning` callback that :meth:`training_callbacks` supplies, which
            sets them after every validation epoch (else every training epoch) from each member's own loss on
            the same noise and times, via :meth:`set_weights_from_losses`.
        temperature: softmax temperature of :meth:`set_weights_from_losses`.
    """

    def __init__(
        self,
        models: Sequence[str] = ("transformer", "cnn", "rnn"),
        model_params: Optional[Dict[str, Dict[str, Any]]] = None,
        aggregation: Aggregation = "weighted_mean",
        weights: Optional[Sequence[float]] = None,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        models = [models] if isinstance(models, str) else list(models)
        if not models:
            raise ValueError("models must name at least one architecture")
        if "ensemble" in models:
            raise ValueError("models must not contain 'ensemble'")
        known = Registry.list("architecture")
        unknown = [m for m in models if m not in known]
        if unknown:
            raise ValueError(f"models: unknown architecture {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        model_params = dict(model_params or {})
        extra = [k for k in model_params if k not in models]
        if extra:
            raise ValueError(f"model_params names {', '.join(map(repr, extra))}, which is not in models")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be 'weighted_mean' or 'mixture', got {aggregation!r}")
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.models: List[str] = models
        self.aggregation: Aggregation = aggregation
        self.temperature = float(temperature)
        self.members = torch.nn.ModuleList(
            Registry.get("architecture", name, **dict(model_params.get(name) or {})) for name in models
        )
        #: the weights were not given: they are learned (by the loss, or from the members' losses)
        self.learn_weights = weights is None
        #: learned from each member's own loss by the callback (a mixture); a weighted mean trains them
        self.weights_from_losses = self.learn_weights and aggregation == "mixture"
        #: mean loss of each member behind the current weights (None until set from losses)
        self.member_losses: Optional[List[float]] = None
        if weights is None:
            w = torch.full((len(models),), 1.0 / len(models))
        else:
            w = torch.as_tensor(list(weights), dtype=torch.float32)
            if w.shape != (len(models),) or not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise ValueError(
                    f"weights must be {len(models)} non-negative numbers with a positive sum, got {weights!r}"
                )
            w = w / w.sum()
        self.weight_logits: Optional[torch.nn.Parameter]
        self.register_parameter("weight_logits", None)  # created by build for a learned weighted mean
        if not (self.learn_weights and aggregation == "weighted_mean"):
            self.register_buffer("fixed_weights", w)
        self.register_load_state_dict_pre_hook(_legacy_weights)

    fixed_weights: torch.Tensor

    @property
    def weights(self) -> torch.Tensor:
        """Member weights ``(num_members,)``, summing to one: ``softmax(weight_logits)`` when trained by the
        loss, else the ``fixed_weights`` buffer (given, or set from the members' losses)."""
        if self.weight_logits is not None:
            return torch.softmax(self.weight_logits, 0)
        return self.fixed_weights

    @property
    def member_architectures(self) -> List[BaseArchitecture]:
        """The members, in order (``self.members`` typed as architectures: every member comes from the registry)."""
        return cast(List[BaseArchitecture], list(self.members))

    def create_layers(self, shapes: ArchitectureShapes) -> None:
        for member in self.member_architectures:
            member.build(shapes)
        if self.learn_weights and self.aggregation == "weighted_mean":
            self.weight_logits = torch.nn.Parameter(torch.zeros(len(self.members)))  # uniform

    def training_callbacks(self) -> List[Any]:
        """A mixture's learned weights (no ``weights`` given) come with :class:`EnsembleWeightLearning`."""
        return [EnsembleWeightLearning(EnsembleArchitecture)] if self.weights_from_losses else []

    # ------------------------------------------------------------------ weights
    def set_weights_from_losses(
        self, losses: Sequence[float], method: Literal["softmax", "inverse"] = "softmax"
    ) -> torch.Tensor:
        """Weights from per-member validation losses (lower loss -> larger weight):
        ``softmax(-losses / temperature)`` or ``method="inverse"``: ``(1 / loss) / sum(1 / loss)``.
        The losses are kept in :attr:`member_losses`. On a weighted mean trained by the loss this overwrites the
        trained weights (``weight_logits = log(w)``)."""
        values = torch.as_tensor(list(losses), dtype=torch.float64)
        if values.shape != (len(self.members),) or not torch.isfinite(values).all():
            raise ValueError(f"losses must be {len(self.members)} finite numbers, got {values.tolist()!r}")
        if method == "softmax":
            w = torch.softmax(-values / self.temperature, dim=0)
        elif method == "inverse":
            if (values <= 0).any():
                raise ValueError("losses must be > 0 for method 'inverse'")
            w = (1.0 / values) / (1.0 / values).sum()
        else:
            raise ValueError(f"method must be 'softmax' or 'inverse', got {method!r}")
        with torch.no_grad():
            if self.weight_logits is not None:
                self.weight_logits.copy_(torch.log(w).to(self.weight_logits))
            else:
                self.fixed_weights.copy_(w.to(self.fixed_weights))
        self.member_losses = values.tolist()
        return self.weights.detach()

    def member_networks(self, cond: Any) -> List[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
        """One ``network(x_t, t)`` per member, each bound to its own part of ``cond`` (from :meth:`encode`):
        member ``i`` alone denoises every row. Used to score the members separately."""
        members = self.member_architectures
        return [functools.partial(_call_member, member, c) for member, c in zip(members, cond["members"])]

    def _assign(self, u: torch.Tensor) -> torch.Tensor:
        """Member index by the inverse CDF of the weights at ``u`` in [0, 1)."""
        cdf = torch.cumsum(self.weights.to(torch.float64), 0).to(u.device)
        return torch.searchsorted(cdf, u.to(torch.float64), right=True).clamp_max(len(self.members) - 1)

    # ------------------------------------------------------------------ interface
    def encode(self, context, future_features, drop=None):
        conds = tuple(m.encode(context, future_features, drop) for m in self.member_architectures)
        rows = torch.arange(1, context.shape[0] + 1, device=context.device, dtype=torch.float64)
        return {"members": conds, "assign": self._assign(torch.frac(rows * _GOLDEN))}

    def repeat_condition(self, cond: Any, repeats: int) -> Any:  # type: ignore[override]
        members = tuple(m.repeat_condition(c, repeats) for m, c in zip(self.member_architectures, cond["members"]))
        batch = cond["assign"].shape[0]
        paths = (torch.arange(repeats, device=cond["assign"].device, dtype=torch.float64) + 0.5) / repeats
        return {"members": members, "assign": self._assign(paths).repeat(batch)}

    def forward(self, x_t, t, cond):
        conds = cond["members"]
        if self.aggregation == "weighted_mean":
            out = torch.zeros_like(x_t)
            for w, member, c in zip(self.weights.unbind(0), self.members, conds):
                out = out + w.to(x_t.dtype) * member(x_t, t, c)
            return out
        assign = cond["assign"].to(x_t.device)
        if assign.shape[0] != x_t.shape[0]:
            raise ValueError(f"condition has {assign.shape[0]} rows but x_t has {x_t.shape[0]}")
        t = t.expand(x_t.shape[0]) if t.ndim == 0 else t
        out = torch.zeros_like(x_t)
        for k, (member, c) in enumerate(zip(self.members, conds)):
            index = (assign == k).nonzero(as_tuple=True)[0]
            if not index.numel():
                continue
            if _row_indexable(c, x_t.shape[0]):  # evaluate the member on its rows only
                out = out.index_put((index,), member(x_t[index], t[index], _index_condition(c, index)))
            else:  # a condition shared across rows (e.g. the transformer's): evaluate all rows, keep its own
                rows = (assign == k).reshape(-1, *([1] * (x_t.ndim - 1)))
                out = torch.where(rows, member(x_t, t, c), out)
        return out
