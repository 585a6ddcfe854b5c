"""Cut Veeam's VSPC OpenAPI document down to what the simulator tests validate.

``tests/vendors/test_vspc_simulator.py`` checks the VSPC simulator's responses against Veeam's published
REST API 3.6.1 spec. The full document (8 MB) lives in ``../shared`` beside the repo; the tests read the compact
form that :mod:`scripts.openapi_compact` makes of it for :data:`WANTED`, committed under ``tests/vendors/specs/``.

Run ``python -m scripts.compact_vspc_spec [SPEC] [OUT]`` after changing :data:`WANTED` or the spec; the
simulator tests fail when the committed file is not what this script makes of the shared spec.
"""

from __future__ import annotations

import json
import sys

from scripts.openapi_compact import COMPACT_SPECS, SHARED_SPECS, VendorSpec, Wanted, main

SPEC_NAME = "vspc_rest_3_6_1.json"
SHARED_SPEC = SHARED_SPECS / "veeam-vspc" / SPEC_NAME
COMPACT_SPEC = COMPACT_SPECS / "vspc_rest_3_6_1.compact.json"
REGENERATE = "python -m scripts.compact_vspc_spec"

# Every (method, path, HTTP status) whose response body the simulator tests validate. Each status keeps the
# response Veeam's spec gives for it: its own entry when the spec lists that status, "default" otherwise.
WANTED: Wanted = [
    ("post", "/token", "200"),
    ("post", "/token", "400"),
    ("get", "/about", "200"),
    ("get", "/about", "429"),
    ("get", "/organizations/companies", "200"),
    ("get", "/organizations/companies", "401"),
    ("get", "/organizations/companies", "403"),
    ("get", "/organizations/companies/{companyUid}", "200"),
    ("get", "/organizations/companies/{companyUid}", "400"),
    ("get", "/organizations/companies/{companyUid}", "404"),
    ("get", "/infrastructure/backupServers/jobs", "200"),
    ("get", "/infrastructure/backupServers/jobs", "400"),
    ("get", "/infrastructure/backupServers/jobs", "403"),
    ("get", "/infrastructure/backupServers/jobs", "520"),
    ("get", "/infrastructure/backupAgents/jobs", "200"),
    ("get", "/infrastructure/backupAgents/jobs", "403"),
    ("get", "/alarms/active", "200"),
    ("get", "/alarms/active", "403"),
    ("get", "/alarms/active/{activeAlarmUid}/history", "200"),
    ("get", "/alarms/active/{activeAlarmUid}/history", "404"),
    ("get", "/eventLogs/activityLogs", "200"),
    ("get", "/eventLogs/activityLogs", "403"),
]

VSPC = VendorSpec(
    vendor="Veeam", shared=SHARED_SPEC, compact=COMPACT_SPEC, regenerate=REGENERATE, wanted=WANTED, load=json.loads
)

if __name__ == "__main__":
    sys.exit(main(VSPC, description=__doc__.splitlines()[0] if __doc__ else None))
