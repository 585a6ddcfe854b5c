"""The demo: its launcher (``make demo``), its seed (tenants, users, connections to the simulators) and the
data generator that fills a tenant with MSP-scale history. The running app never imports it."""
