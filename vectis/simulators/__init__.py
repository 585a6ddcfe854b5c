"""Vendor simulators: one faithful fake per vendor API, for the demo and the tests."""
