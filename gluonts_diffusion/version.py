"""The package version, in one place: setup.py, the package root, saved predictors and exported models read it.

It imports nothing, so every layer (and a torch-free install) can read it.
"""

__version__ = "0.5.1"
