from . import base
from .base import *  # noqa: F403  (the base classes, Component and COMPONENT_KINDS: see base.__all__)
from .denoiser import Denoiser
from .registry import Registry, RegistryError

__all__ = [*base.__all__, "Denoiser", "Registry", "RegistryError"]
