"""Putting a saved predictor into production: JSON rows <-> entries and forecasts (``entries``), streamed batch
prediction (``batch``, ``python -m gluonts_diffusion.predict``), its Ray engine (``ray_engine``) and the HTTP app
behind ``python -m gluonts_diffusion.serve`` (``http``)."""
