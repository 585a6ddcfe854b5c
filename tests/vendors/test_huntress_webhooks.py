"""Huntress's instant updates: webhooks Svix delivers and signs the Standard Webhooks way, with an endpoint an admin
adds in the Huntress portal (there is no API for it). The signature check, each way a delivery is refused, and, end to
end over real HTTP, an incident report the SOC sends reaching Vectis as a detection (timeline and rules once) and its
closing resolving it, with no sync in between."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from standardwebhooks import Webhook

from tests.conftest import MadeUser, login, own_workspace, serving
from tests.vendors.support import Setup, add_connection, deliveries, new_tenant, sync, webhook_url, work
from tests.vendors.test_huntress import Hunt, connector, detections, first, hunt
from vectis.actions.base import Outcome, Target
from vectis.actions.perform import perform
from vectis.audit.actors import Actor
from vectis.connectors.capabilities import (
    TEST_CALLBACK,
    CallbackRefused,
    RegistersCallbacks,
    SignsTestCallbacks,
    VerifiesCallbacks,
    supports,
)
from vectis.connectors.huntress import MESSAGES, HuntressConnector, svix_headers
from vectis.models import RuleEvent, TimelineEvent, WebhookDelivery
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform.http import ConnectorError

__all__ = ["hunt"]  # the fixture, used by name

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
ADMIN = Actor("user", None, "admin@msp.test", "admin")


def signed(body: bytes, secret: str = SECRET, *, at: datetime | None = None, svix: bool = False) -> dict[str, str]:
    headers = svix_headers(Webhook(secret), "msg_1", body, at)
    if svix:  # only the svix-* names, as older Svix deliveries carry
        headers = {k.replace("webhook-", "svix-"): v for k, v in headers.items()}
    return {k.lower(): v for k, v in headers.items()}


def event(kind: str = "incident_report.created", **data: object) -> bytes:
    return json.dumps({"type": kind, "data": data or {"id": 4242}}).encode()


def test_a_signed_incident_report_event_is_a_detection_callback_and_every_other_delivery_is_refused_in_words(
    app: Flask, hunt: Hunt
) -> None:
    tool = connector(app, hunt, webhook_secret=SECRET)
    body = event()
    callback = tool.verify_callback(body, signed(body))
    assert (callback.kind, callback.external_id, callback.action, callback.message_id) == (
        "detection", "4242", "created", "msg_1"
    )  # fmt: skip
    assert tool.verify_callback(body, signed(body, svix=True)).external_id == "4242"
    nested = event("incident_report.closed", incident_report={"id": 7})
    assert tool.verify_callback(nested, signed(nested)).external_id == "7"
    refusals = {
        "another secret": (body, signed(body, OTHER)),
        "a changed body": (event(id=4243), signed(body)),
        "no headers": (body, {}),
        "a replay": (body, signed(body, at=datetime.now(UTC) - timedelta(minutes=6))),
        "not a report": (event("agent.created"), signed(event("agent.created"))),
    }
    said = {}
    for what, (sent, headers) in refusals.items():
        with pytest.raises(CallbackRefused) as refused:
            tool.verify_callback(sent, headers)
        said[what] = refused.value.reason
    assert said == {
        "another secret": "Its signature does not match the endpoint's secret.",
        "a changed body": "Its signature does not match the endpoint's secret.",
        "no headers": "It has no webhook-id, webhook-timestamp and webhook-signature headers (or svix-*).",
        "a replay": "It was signed more than five minutes ago: a replay, or a clock far off.",
        "not a report": "It is not an incident report event (agent.created).",
    }
    with pytest.raises(CallbackRefused, match="No webhook signing secret is saved for Huntress"):
        connector(app, hunt).verify_callback(body, signed(body))
    test_body, test_headers = tool.test_callback()
    lower = {k.lower(): v for k, v in test_headers.items()}
    assert tool.verify_callback(test_body, lower).kind == TEST_CALLBACK


def test_the_published_standard_webhooks_vector_signs_as_published_and_is_refused_today_as_a_replay(
    app: Flask, hunt: Hunt
) -> None:
    """Svix's published example (the Standard Webhooks spec's): secret, message id, timestamp and body give exactly
    its signature; sent now, five years late, it is a replay."""
    body, moment = b'{"test": 2432232314}', datetime.fromtimestamp(1614265330, UTC)
    headers = svix_headers(Webhook(SECRET), "msg_p5jXN8AQM9LWM0D4loKWxJek", body, moment)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"
    with pytest.raises(CallbackRefused, match="a replay"):
        connector(app, hunt, webhook_secret=SECRET).verify_callback(body, headers)


def test_the_signing_secret_is_optional_checked_when_given_and_never_shown(app: Flask, hunt: Hunt) -> None:
    assert supports(HuntressConnector, VerifiesCallbacks) and supports(HuntressConnector, SignsTestCallbacks)
    assert not supports(HuntressConnector, RegistersCallbacks)  # no API to add an endpoint: the admin adds it
    assert HuntressConnector.validate_config({**hunt.config})["webhook_secret"] == ""
    assert (
        HuntressConnector.validate_config({**hunt.config, "webhook_secret": f" {SECRET} "})["webhook_secret"] == SECRET
    )
    for wrong in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_!!!"):
        with pytest.raises(ConnectorError) as refused:
            HuntressConnector.validate_config({**hunt.config, "webhook_secret": wrong})
        assert refused.value.message == MESSAGES["bad_secret"]
    assert "webhook_secret" in HuntressConnector.secret_fields()


def instant_updates(app: Flask, setup: Setup, url: str) -> Outcome:
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        return perform(
            "integration.instant_updates", Target("integration", "huntress", "Huntress"), {"url": url}, actor=ADMIN,
            surface="ui", session=s, tenant_id=setup.tenant_id,
        )  # fmt: skip


def announced(app: Flask, setup: Setup, external_id: str) -> tuple[int, int]:
    """How many timeline events and rule events the detection made."""
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        detection_id = s.scalars(select(Detection.id).where(Detection.external_id == external_id)).one()
        timeline = s.scalar(
            select(func.count()).select_from(TimelineEvent).where(TimelineEvent.dedup_key == f"detection:{external_id}")
        )
        heard = s.scalar(
            select(func.count())
            .select_from(RuleEvent)
            .where(RuleEvent.trigger == "security.detection_created", RuleEvent.subject_id == detection_id)
        )
        return int(timeline or 0), int(heard or 0)


def test_a_report_the_soc_sends_reaches_vectis_as_a_detection_and_its_closing_resolves_it_without_a_sync(
    app: Flask, hunt: Hunt
) -> None:
    setup = add_connection(app, new_tenant(app), "huntress", {**hunt.config, "webhook_secret": SECRET})
    other = add_connection(app, new_tenant(app), "huntress", hunt.config)  # a second MSP, no endpoint of its own
    assert sync(app, setup).status == "succeeded"
    with serving(app) as port:
        url = webhook_url(app, setup, port)
        slug = url.split("//", 1)[1].split(".localhost", 1)[0]
        refused = instant_updates(app, setup, url)  # Vectis cannot add the endpoint: it says where the admin does
        assert not refused.ok and "add this connection's webhook address in Huntress itself" in refused.message

        # The admin adds the endpoint in the portal, with the secret saved on the connection.
        answer = requests.post(f"{hunt.url}/_sim/webhook_endpoints", json={"url": url, "secret": SECRET}, timeout=5)
        assert answer.status_code == 201
        agent = next(a for a in hunt.state.agents.values() if a["organization_id"] in hunt.state.organizations)
        sent = requests.post(f"{hunt.url}/_sim/incident_reports", json={"agent_id": agent["id"], "severity": "critical"},
                             timeout=5).json()["incident_report"]  # fmt: skip
        hunt.state.drain()
        (arrived,) = deliveries(app, setup)
        assert arrived.verified and arrived.record == f"detection {sent['id']} created"
        assert str(sent["id"]) not in detections(app, setup)
        work(app)
        stored = detections(app, setup)[str(sent["id"])]
        assert (stored.severity, stored.status, stored.device_name) == ("critical", "open", agent["hostname"])
        assert deliveries(app, setup)[-1].outcome == f"Detection {sent['id']} stored."
        assert announced(app, setup, str(sent["id"])) == (1, 1)

        # Svix retries a delivery it is unsure of: the same message is recorded once and processed once.
        delivered = [d for d in hunt.state.deliveries if d["type"] == "incident_report.created"]
        assert [d["status"] for d in delivered] == [202]

        connector(app, hunt).resolve_detection(str(sent["id"]))  # closed at Huntress: an incident_report.closed event
        hunt.state.drain()
        work(app)
        assert detections(app, setup)[str(sent["id"])].status == "resolved"
        assert announced(app, setup, str(sent["id"])) == (1, 1)  # not announced again
        assert [d.record for d in deliveries(app, setup)] == [
            f"detection {sent['id']} created", f"detection {sent['id']} closed"
        ]  # fmt: skip

        # A forged delivery is refused, recorded with why, and nothing is read.
        forged = event(id=first(hunt, status="sent")["id"])
        for headers in ({}, signed(forged, OTHER)):
            reply = requests.post(url.replace(f"{slug}.localhost", "127.0.0.1"), data=forged, timeout=5,
                                  headers={"Host": f"{slug}.localhost:{port}", **headers})  # fmt: skip
            assert reply.status_code == 401
        assert [d.verified for d in deliveries(app, setup)[-2:]] == [False, False]
    assert deliveries(app, other) == []


def test_the_webhooks_section_says_how_to_add_the_endpoint_in_huntress_and_when_it_is_receiving(
    app: Flask, hunt: Hunt, make_user: Callable[..., MadeUser]
) -> None:
    tenant = own_workspace(app)
    tenant_id = tenant.id
    setup = add_connection(app, tenant_id, "huntress", {**hunt.config, "webhook_secret": SECRET})
    client = login(app, tenant, make_user(tenant, "admin").email)
    page = client.get("/admin/integrations/huntress").get_data(as_text=True)
    assert "Set up in Huntress" in page and "Settings → Webhooks → Add Endpoint" in page
    assert SECRET not in page and "Turn on instant updates" not in page
    with app.app_context(), db.tenant_session(tenant_id) as s:  # a verified call has come in
        s.add(WebhookDelivery(tenant_id=tenant_id, connection_id=setup.connection_id, verified=True,
                              message_id="msg_9", reason="Signature verified.", record="detection 1 created"))  # fmt: skip
    assert "Receiving" in client.get("/admin/integrations/huntress").get_data(as_text=True)
