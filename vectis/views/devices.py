"""A device's own page (``/devices/dev_…``): its facts, its alerts, the tickets that name it and its timeline. The
list of a customer's devices is the hub's Devices tab (``vectis/views/customers.py``)."""

from __future__ import annotations

from flask import Blueprint
from werkzeug.wrappers import Response

from vectis.alerts.service import label
from vectis.devices import queries
from vectis.identity.auth import signed_in
from vectis.models import Customer, Device
from vectis.platform import db
from vectis.platform.access import get_or_404
from vectis.platform.htmx import render

bp = Blueprint("devices", __name__)


@bp.get("/devices/<pid(device):device_id>")
@signed_in
def show(device_id: int) -> Response:
    s = db.session()
    page = queries.device_page(s, get_or_404(Device, device_id))
    parent = s.get(Customer, page.customer.parent_id) if page.customer and page.customer.parent_id else None
    return render("devices/show.html", page=page, parent=parent, condition_label=label, active="customers")
