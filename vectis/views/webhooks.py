"""``POST /webhooks/<connection id>``: vendors call it, not people: no session, no CSRF; the signature is
the authentication (``vectis/webhooks.py``)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from werkzeug.wrappers import Response

from vectis.ingest import webhooks
from vectis.models import Connection
from vectis.platform import db

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/<int:connection_id>")
def receive(connection_id: int) -> Response:
    s = db.session()
    connection = s.get(Connection, connection_id)  # RLS: another workspace's connection is not there
    if connection is None:
        abort(404)
    headers = {k.lower(): v for k, v in request.headers.items()}
    answer = webhooks.receive(s, connection, request.get_data(cache=False), headers)
    response = jsonify({"message": answer.message})
    response.status_code = answer.status
    return response
