"""The one write-back path: verbs, ``perform()`` and the audit log writer.

Views, the REST API, MCP tools, rules and the portal all call :func:`perform`; none calls a vendor or
writes the audit log itself (``tests/test_actions.py`` checks the imports).
"""

from vectis.actions.base import ActionFailed, Actor, Applied, Outcome, Target
from vectis.actions.perform import perform
from vectis.actions.registry import VERBS, load_all

load_all()

__all__ = ["VERBS", "ActionFailed", "Actor", "Applied", "Outcome", "Target", "perform"]
