"""``python -m vectis.simulators.vspc``: serve the VSPC simulator (``--help`` for the options)."""

from vectis.simulators.vspc.api import main

if __name__ == "__main__":
    raise SystemExit(main())
