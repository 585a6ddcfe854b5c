"""``python -m vectis.simulators.graph``: serve the Microsoft Graph simulator (``--help`` for the options)."""

from vectis.simulators.graph.api import main

if __name__ == "__main__":
    raise SystemExit(main())
