"""``python -m vectis.simulators.pax8``: serve the Pax8 simulator (``--help`` for the options)."""

from vectis.simulators.pax8.api import main

if __name__ == "__main__":
    raise SystemExit(main())
