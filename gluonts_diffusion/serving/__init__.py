"""Putting a saved predictor into production: the HTTP app behind ``python -m gluonts_diffusion.serve``."""
