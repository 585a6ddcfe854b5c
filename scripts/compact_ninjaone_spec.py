"""Cut NinjaOne's published OpenAPI document down to what the NinjaOne simulator tests validate.

``tests/vendors/test_ninjaone_simulator.py`` checks the simulator's responses against NinjaOne's Public API 2.0
spec (``shared/vendor-specs/ninjaone/ninjaOne-API-core-resources.yaml`` beside the repo, 0.5 MB of YAML); it reads
the compact form that :mod:`scripts.openapi_compact` makes of it for :data:`WANTED`, committed under
``tests/vendors/specs/``. NinjaOne's spec gives one "default" response per operation (``GET /v2/device/{id}``
alone says 200) and no error bodies, so only successful answers have a schema to meet.

Run ``python -m scripts.compact_ninjaone_spec [SPEC] [OUT]`` after changing :data:`WANTED` or the spec; the
simulator tests fail when the committed file is not what this script makes of the shared spec.
"""

from __future__ import annotations

import json
import sys

import yaml

from scripts.openapi_compact import COMPACT_SPECS, SHARED_SPECS, Json, VendorSpec, Wanted, main

SPEC_NAME = "ninjaOne-API-core-resources.yaml"
SHARED_SPEC = SHARED_SPECS / "ninjaone" / SPEC_NAME
COMPACT_SPEC = COMPACT_SPECS / "ninjaone_core.compact.json"
REGENERATE = "python -m scripts.compact_ninjaone_spec"

# Every (method, path, HTTP status) whose response body the simulator serves and the tests validate.
WANTED: Wanted = [
    ("get", "/v2/organizations", "200"),
    ("get", "/v2/organizations-detailed", "200"),
    ("get", "/v2/organization/{id}", "200"),
    ("get", "/v2/locations", "200"),
    ("get", "/v2/organization/{id}/locations", "200"),
    ("get", "/v2/devices", "200"),
    ("get", "/v2/devices-detailed", "200"),
    ("get", "/v2/device/{id}", "200"),
    ("get", "/v2/alerts", "200"),
    ("get", "/v2/activities", "200"),
]


def load(text: str) -> Json:
    """The YAML as JSON would have it: a key YAML reads as a number (``200:``) becomes its string. libyaml's safe
    loader when PyYAML was built with it (about ten times faster on this file), else PyYAML's own."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document: Json = json.loads(json.dumps(yaml.load(text, Loader=loader), default=str))  # noqa: S506 - both are safe
    return document


NINJAONE = VendorSpec(
    vendor="NinjaOne", shared=SHARED_SPEC, compact=COMPACT_SPEC, regenerate=REGENERATE, wanted=WANTED, load=load
)

if __name__ == "__main__":
    sys.exit(main(NINJAONE, description=__doc__.splitlines()[0] if __doc__ else None))
