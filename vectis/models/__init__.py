"""All models, imported here so ``Base.metadata`` is complete for Alembic and the catalog tests."""

from vectis.models.accounts import Invite, RecoveryCode
from vectis.models.audit import AuditEntry
from vectis.models.base import Base, TenantOwned
from vectis.models.outbox import OutboxMail, QueuedAction
from vectis.models.tenancy import Role, Tenant, User

__all__ = [
    "AuditEntry",
    "Base",
    "Invite",
    "OutboxMail",
    "QueuedAction",
    "RecoveryCode",
    "Role",
    "Tenant",
    "TenantOwned",
    "User",
]
