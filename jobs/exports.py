"""The query builder's large exports, written by the ``exports`` worker (``vectis.query.exports``)."""

from __future__ import annotations

from jobs.context import app_context
from vectis.platform import jobs as wire
from vectis.query import exports

QUEUE, TIMEOUT = wire.QUERY_EXPORT.queue, wire.QUERY_EXPORT.timeout


def run_export(tenant_id: int, export_id: int) -> str:
    """Write one queued export to its file, moving its progress as the rows come (``exports.run_export``)."""
    with app_context():
        return exports.run_export(tenant_id, export_id)
