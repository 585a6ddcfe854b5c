"""``python -m vectis.simulators.keepit``: serve the Keepit simulator (``--help`` for the options)."""

from vectis.simulators.keepit.api import main

if __name__ == "__main__":
    raise SystemExit(main())
