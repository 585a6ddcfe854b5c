"""``python -m vectis.simulators.ninjaone``: serve the NinjaOne simulator (``--help`` for the options)."""

from vectis.simulators.ninjaone.api import main

if __name__ == "__main__":
    raise SystemExit(main())
