"""The package version, here so every layer can read it (the package root re-exports it as ``__version__``)."""

__version__ = "0.1.0"
