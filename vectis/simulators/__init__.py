"""Vendor simulators: one faithful fake per vendor API, for the demo and the tests.

Each vendor is a package (``vspc``, ``keepit``, ``connectwise``, ``ninjaone``, ``sentinelone``: its ``__init__`` documents the API
shape and the fault knobs) built on ``base`` (fault knobs, the state's bookkeeping, the ``/_sim`` controls, the
app factory and the command line). ``fixtures`` is the simulated MSP they all describe: its customers'
names and the customers themselves. The simulators never import one another.
"""
