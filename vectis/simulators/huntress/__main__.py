"""``python -m vectis.simulators.huntress``: serve the Huntress simulator (``--help`` for the options)."""

from vectis.simulators.huntress.api import main

if __name__ == "__main__":
    raise SystemExit(main())
