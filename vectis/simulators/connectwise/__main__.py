"""``python -m vectis.simulators.connectwise``: serve the ConnectWise simulator (``--help`` for the options)."""

from vectis.simulators.connectwise.api import main

if __name__ == "__main__":
    raise SystemExit(main())
