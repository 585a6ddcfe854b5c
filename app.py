"""Entry point for gunicorn and ``flask``: ``app = create_app()``."""

import sys

from vectis import create_app
from vectis.platform.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One clear line, not a traceback: this is an operator's setup mistake, not a bug.
    print(f"vectis: cannot start: {exc}", file=sys.stderr)
    raise SystemExit(1) from None
