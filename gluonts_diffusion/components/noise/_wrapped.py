"""The base noise of a noise that wraps another (private: not auto-imported as a component)."""

from typing import Any, Dict, Optional

from gluonts_diffusion.core.base import BaseNoise
from gluonts_diffusion.core.registry import Registry, RegistryError


def build_base_noise(owner: str, base_noise: str, base_params: Optional[Dict[str, Any]]) -> BaseNoise:
    """The registered noise ``base_noise`` built with ``base_params``, for the wrapping noise ``owner``; a
    ``ValueError`` names the bad argument (``owner`` itself, parameters that are not a dict, a failing base)."""
    if base_noise == owner:
        raise ValueError(f"base_noise cannot be {owner!r} itself")
    if base_params is not None and not isinstance(base_params, dict):
        raise ValueError(f"base_params must be a dict of parameters, got {type(base_params).__name__}")
    try:
        return Registry.get("noise", base_noise, **(base_params or {}))
    except (RegistryError, ValueError) as err:
        raise ValueError(f"base_noise {base_noise!r}: {err}") from err
