"""RQ job functions. They are a wire format: ids only (``tenant_id`` first), stable dotted paths and
signatures, new parameters only as trailing keywords with defaults (CONVENTIONS #3)."""
