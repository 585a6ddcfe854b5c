"""What Vectis can do, one package per capability. Importing this module registers every capability's verbs
with ``vectis.actions``; ``create_app`` does, so the web, the worker and the tests see the same verbs.

A new capability (devices, security, licensing) adds its package and one line here.
"""

from vectis.alerts import verbs as alerts
from vectis.customers import notes
from vectis.customers import verbs as customers
from vectis.identity import self_service
from vectis.identity import token_verbs as tokens
from vectis.identity import verbs as identity
from vectis.ingest import matching_verbs
from vectis.ingest import verbs as ingest
from vectis.licensing import verbs as licensing
from vectis.m365 import writer as m365
from vectis.portal_access import account_verbs as portal_accounts
from vectis.portal_access import verbs as portal
from vectis.query import verbs as queries
from vectis.retention import verbs as retention
from vectis.rules import verbs as rules
from vectis.security import verbs as security
from vectis.tickets import verbs as tickets

VERB_MODULES = (
    alerts,
    customers,
    notes,
    identity,
    portal,
    portal_accounts,
    self_service,
    tokens,
    ingest,
    matching_verbs,
    m365,
    licensing,
    queries,
    retention,
    rules,
    security,
    tickets,
)
