"""Maintenance scripts, run as files (``python scripts/<name>.py``) and imported by the tests that check their output."""
