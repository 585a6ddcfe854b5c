"""``python -m vectis.simulators.sentinelone``: serve the SentinelOne simulator (``--help`` for the options)."""

from vectis.simulators.sentinelone.api import main

if __name__ == "__main__":
    raise SystemExit(main())
