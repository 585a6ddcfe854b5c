"""``python -m vectis.demo`` runs the demo (``make demo``); ``python -m vectis.demo seed`` only seeds its
tenants and users. The demo lives outside the app: nothing the app runs imports this package."""

import sys

from vectis import create_app
from vectis.demo.launcher import main
from vectis.demo.seed import seed_demo

if sys.argv[1:] == ["seed"]:
    with create_app().app_context():
        seed_demo()
    print("Demo tenants and users are in place.")
    sys.exit(0)
sys.exit(main())
