"""``python -m vectis.simulators.eset``: serve the ESET simulator (``--help`` for the options)."""

from vectis.simulators.eset.api import main

if __name__ == "__main__":
    raise SystemExit(main())
