"""Built-in components; each subpackage imports its own files."""

from . import architectures, noise, objectives, preprocessing, samplers, sde, time_grids  # noqa: F401
