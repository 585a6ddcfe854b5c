"""What every simulator is built on: fault knobs (``knobs``), the state's bookkeeping (``state``), the Flask
wiring with the ``/_sim`` controls (``app``) and the command line (``cli``)."""

from vectis.simulators.base.app import (
    Simulator,
    add_fault_controls,
    cut_in_half,
    is_chosen_page,
    json_response,
    received_body,
    route_pattern,
    under,
)
from vectis.simulators.base.cli import serve_main
from vectis.simulators.base.knobs import (
    BOOL,
    COUNT,
    SECONDS,
    FaultKnobs,
    Json,
    Rule,
    is_count,
    json_merge_patch,
    malformed_page_rule,
)
from vectis.simulators.base.state import SimState

__all__ = [
    "BOOL",
    "COUNT",
    "SECONDS",
    "FaultKnobs",
    "Json",
    "Rule",
    "SimState",
    "Simulator",
    "add_fault_controls",
    "cut_in_half",
    "is_chosen_page",
    "is_count",
    "json_merge_patch",
    "json_response",
    "malformed_page_rule",
    "received_body",
    "route_pattern",
    "serve_main",
    "under",
]
