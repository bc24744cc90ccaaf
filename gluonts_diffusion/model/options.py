"""The ``compile`` option (its check, and the lazily compiled network), the check of ``clip_x0`` and its bounds,
the check that the window options have a time-domain preprocessing:
options of :class:`~gluonts_diffusion.model.module.DiffusionModel` checked by the estimator too, so a bad value
fails early."""

from typing import Any, Callable, Dict, Optional, Tuple, Union

import torch

from gluonts_diffusion.core.base import BasePreprocessor
from gluonts_diffusion.core.denoiser import history_bounds

from .given_window import to_anchor

#: ``torch.compile`` arguments accepted in the ``compile`` option
COMPILE_ARGS = ("backend", "mode", "fullgraph", "dynamic", "options", "disable")


def compile_options(compile: Union[bool, Dict[str, Any], None]) -> Optional[Dict[str, Any]]:
    """``None`` (no compilation) or the keyword arguments of ``torch.compile`` for a ``compile`` option
    (``False``/``None``, ``True`` = defaults, or a dict such as ``{"backend": "eager"}``)."""
    if compile is None or compile is False:
        return None
    if compile is True:
        return {}
    if isinstance(compile, dict):
        unknown = sorted(set(compile) - set(COMPILE_ARGS))
        if unknown:
            raise ValueError(
                f"compile: unknown torch.compile argument {unknown[0]!r}; known: {', '.join(COMPILE_ARGS)}"
            )
        return dict(compile)
    raise ValueError(f"compile must be a bool or a dict of torch.compile arguments, got {compile!r}")


def check_compile(compile: Union[bool, Dict[str, Any], None]) -> Union[bool, Dict[str, Any], None]:
    """``compile`` unchanged once :func:`compile_options` accepts it (else its ``ValueError``)."""
    compile_options(compile)
    return compile


def check_clip_x0(clip_x0: Optional[float]) -> Optional[float]:
    """``clip_x0`` as a float (``None``: off); a negative or non-numeric value is refused."""
    if clip_x0 is None:
        return None
    if isinstance(clip_x0, bool) or not isinstance(clip_x0, (int, float)) or not clip_x0 >= 0:
        raise ValueError(f"clip_x0 must be None (off) or a number >= 0, got {clip_x0!r}")
    return float(clip_x0)


def check_time_domain(
    preprocessing: BasePreprocessor, name: str, clip_x0: Optional[float], imputation: bool, forecast_anchor: str
) -> None:
    """``ValueError`` naming the first option set of ``clip_x0``, ``imputation`` and ``forecast_anchor`` (each
    works on the scaled window itself) when ``preprocessing`` (registered as ``name``) diffuses another
    representation of the window (its ``encode``/``decode`` are not the identity)."""
    if type(preprocessing).encode is BasePreprocessor.encode and type(preprocessing).decode is BasePreprocessor.decode:
        return
    for option, value, needs in (
        ("clip_x0", clip_x0, "bounds the scaled window"),
        ("imputation", imputation, "conditions on window values"),
        ("forecast_anchor", forecast_anchor, "shifts the scaled window"),
    ):
        if value not in (None, False, "none"):
            raise ValueError(
                f"{option} {needs}, but preprocessing {name!r} diffuses another representation of it; use raw "
                "(or another time-domain preprocessing)"
            )


def clip_bounds(
    clip_x0: Optional[float],
    scaled_context: torch.Tensor,
    observed_context: torch.Tensor,
    repeats: int = 1,
    state: Optional[Dict[str, torch.Tensor]] = None,
) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
    """``clip_x0``'s bounds ``(batch * repeats, 1 or prediction_length, C)`` from the scaled context and its mask
    ``(batch, context_length, C)``, in the diffused coordinates of the scaling ``state`` (relative to an imputation
    anchor when it has one: :func:`~gluonts_diffusion.model.given_window.to_anchor`); ``None`` when off."""
    if clip_x0 is None:
        return None
    low, high = (to_anchor(bound, state or {}) for bound in history_bounds(scaled_context, observed_context, clip_x0))
    return low.repeat_interleave(repeats, 0), high.repeat_interleave(repeats, 0)


class CompiledNetwork:
    """Mixin of a module with an ``architecture`` and ``compile_options``: :attr:`network` is the architecture,
    or its ``torch.compile``-d version when ``compile`` is set."""

    architecture: Any
    compile_options: Optional[Dict[str, Any]]

    def __getstate__(self):
        # a compiled wrapper belongs to one instance: copies (EMA, pickling) compile their own
        state = self.__dict__.copy()
        state.pop("_compiled_architecture", None)
        return state

    @property
    def network(self) -> Callable:
        """``architecture``, or its ``torch.compile``-d version when ``compile`` is set (built on first use;
        kept out of the module tree, so parameters and ``state_dict`` are unchanged)."""
        if self.compile_options is None:
            return self.architecture
        compiled = self.__dict__.get("_compiled_architecture")
        if compiled is None:
            compiled = torch.compile(self.architecture, **self.compile_options)
            self.__dict__["_compiled_architecture"] = compiled
        return compiled
