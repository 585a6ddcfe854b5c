"""The one write-back path: ``perform()``, the vocabulary of verbs and the registry they join.

Views, the REST API, MCP tools, rules and the portal all call :func:`perform`; none calls a vendor or
writes the audit log itself (``tests/test_actions.py`` checks the imports). Verbs live with their capability
(``vectis/tickets/verbs.py``) and are registered by ``vectis/capabilities.py``.
"""

from vectis.actions.base import ActionFailed, Actor, Applied, Outcome, Target
from vectis.actions.perform import perform
from vectis.actions.registry import VERBS

__all__ = ["VERBS", "ActionFailed", "Actor", "Applied", "Outcome", "Target", "perform"]
