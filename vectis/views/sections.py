"""The main sections of the navigation that later issues fill. Until then each page says what will
appear there and how to make it appear, instead of a dead link."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, redirect, url_for
from werkzeug.wrappers import Response

from vectis.identity.auth import signed_in
from vectis.platform.htmx import render

bp = Blueprint("sections", __name__)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    lead: str
    empty_title: str
    empty_body: str


SECTIONS: dict[str, Section] = {
    s.key: s
    for s in (
        Section(
            "security",
            "Security",
            "Detections from SentinelOne, ESET, Huntress and Defender in one place.",
            "No detections",
            "When an endpoint security tool is connected, its detections show here with isolate, resolve and "
            "false-positive actions.",
        ),
    )
}


@bp.get("/")
@signed_in
def home() -> Response:
    return redirect(url_for("customers.index"))


@bp.get("/<any(security):key>")
@signed_in
def show(key: str) -> Response:
    section = SECTIONS.get(key) or abort(404)
    return render("sections/section.html", section=section, active=key)
