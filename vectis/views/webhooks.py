"""``POST /webhooks/<connection public id>/<token>``: vendors call it, not people: no session, no CSRF. The token
(unguessable, per connection) keeps strangers out of the receiver; the signature is the authentication
(``vectis/ingest/webhooks.py``)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from werkzeug.wrappers import Response

from vectis.ingest import webhooks
from vectis.models import Connection
from vectis.platform import db, public_ids

bp = Blueprint("webhooks", __name__)
WEBHOOK_LIMIT = 256 * 1024


@bp.post("/webhooks/<pid(connection):connection_id>/<token>")
def receive(connection_id: int, token: str) -> Response:
    if not public_ids.is_webhook_token(connection_id, token):
        abort(404)  # the URL is the first secret: a guessed one looks like no connection at all
    request.max_content_length = WEBHOOK_LIMIT  # a callback names a record; it never needs more
    s = db.session()
    connection = s.get(Connection, connection_id)  # RLS: another workspace's connection is not there
    if connection is None:
        abort(404)
    headers = {k.lower(): v for k, v in request.headers.items()}
    answer = webhooks.receive(s, connection, request.get_data(cache=False), headers)
    said = {"message": answer.message}
    if answer.test and answer.delivery_id is not None:  # the sender checks it is in this workspace's log
        said["delivery_id"] = public_ids.encode("webhook_delivery", answer.delivery_id)
    response = jsonify(said)
    response.status_code = answer.status
    return response
