"""Vendor connectors: one module per vendor, listed in ``registry.py`` (built in the connector issue)."""
