"""``python -m vectis.simulators.defender``: serve the Microsoft Defender simulator (``--help`` for the options)."""

from vectis.simulators.defender.api import main

if __name__ == "__main__":
    raise SystemExit(main())
