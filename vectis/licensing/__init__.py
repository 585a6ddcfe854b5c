"""Licensing: the licence subscriptions every distributor holds for the MSP's customers (Pax8), their seats week by
week, the seat changes and quotes a technician makes from the hub's Licensing tab, and the changes scheduled for a
renewal that the cron job makes once."""
