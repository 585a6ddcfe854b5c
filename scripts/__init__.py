"""Maintenance scripts, run as modules from the repo root (``python -m scripts.<name>``) and imported by the tests
that check their output."""
