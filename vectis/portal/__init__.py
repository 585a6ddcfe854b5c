"""The customer portal: a Flask app of its own on ``portal.<slug>.<base domain>``, with its own session cookie,
CSRF secret and sign-in, so nothing an operator's session holds means anything here, and the reverse.
``create_app`` mounts it in front of the operator app by host (:class:`vectis.portal.app.ByHost`)."""
