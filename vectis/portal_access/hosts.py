"""Where a workspace's portal lives: ``portal.<slug>.<base domain>``, beside the operators' ``<slug>.<base domain>``."""

from __future__ import annotations

from flask import current_app, has_request_context, request

PREFIX = "portal."


def portal_slug(host: str, base_domain: str) -> str | None:
    """``portal.acme.localhost:5000`` -> ``acme`` when the base domain is ``localhost``; None for any other host."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.strip().lower().rstrip(".")
    suffix = "." + base_domain.split(":", 1)[0]
    if not hostname.startswith(PREFIX) or not hostname.endswith(suffix):
        return None
    label = hostname[len(PREFIX) : -len(suffix)]
    if not label or "." in label:
        return None
    return label


def portal_url(slug: str, path: str = "/", *, scheme: str | None = None, port: int | None = None) -> str:
    """An absolute link into ``slug``'s portal. In a request, its scheme and port are the request's (the operator
    who invites someone is on the same server); outside one (a worker's mail) the settings say them."""
    base = current_app.config["VECTIS_BASE_DOMAIN"].split(":", 1)[0]
    if has_request_context():
        here_scheme, here_port = request_origin()
        scheme, port = scheme or here_scheme, port if port is not None else here_port
    else:
        settings = current_app.config["VECTIS_SETTINGS"]
        scheme = scheme or ("https" if settings.secure_cookies else "http")
        port = port or settings.public_port
    netloc = f"{PREFIX}{slug}.{base}" + (f":{port}" if port and port not in (80, 443) else "")
    return f"{scheme or 'https'}://{netloc}{path}"


def request_origin() -> tuple[str, int]:
    """The scheme and port this request came in on, for links a worker makes on its behalf (as ``portal_url`` would
    have in the request). A host without a port came in on its scheme's own: said outright, or the worker would put
    the settings' port in its place."""
    host = request.host
    if not host.endswith("]") and ":" in host:
        return request.scheme, int(host.rsplit(":", 1)[1])
    return request.scheme, 443 if request.scheme == "https" else 80
