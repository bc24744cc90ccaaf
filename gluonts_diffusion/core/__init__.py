from .base import (
    COMPONENT_KINDS,
    BaseArchitecture,
    BaseNoise,
    BaseObjective,
    BasePreprocessor,
    BaseSampler,
    BaseSDE,
)
from .prediction import Prediction
from .registry import Registry, RegistryError

__all__ = [
    "COMPONENT_KINDS",
    "BaseArchitecture",
    "BaseNoise",
    "BaseObjective",
    "BasePreprocessor",
    "BaseSampler",
    "BaseSDE",
    "Prediction",
    "Registry",
    "RegistryError",
]
