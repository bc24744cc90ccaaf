"""Putting a saved predictor into production: JSON rows <-> entries and forecasts (``entries``), streamed batch
prediction (``batch``, ``python -m gluonts_diffusion.predict``) and its Ray engine (``ray_engine``)."""
