"""All models, imported here so ``Base.metadata`` is complete for Alembic and the catalog tests."""

from vectis.models.accounts import Invite, RecoveryCode
from vectis.models.alerts import Alert, AlertMute, AlertState, VendorAlert, classify_condition
from vectis.models.audit import AuditEntry, AuditSeal
from vectis.models.backups import BackupAuditEvent, BackupConnector, BackupConnectorStatus, BackupRun
from vectis.models.base import Base, TenantOwned
from vectis.models.contacts import Contact
from vectis.models.contracts import Contract, ContractLineItem
from vectis.models.customers import Customer, CustomerLink, Linked, LinkStatus
from vectis.models.devices import DEVICE_CLASSES, Device
from vectis.models.integrations import Connection, StreamCursor, SyncRun
from vectis.models.licensing import LicenseScheduledChange, LicenseSubscription, LicenseUsage
from vectis.models.m365 import M365CaPolicy, M365ManagedDevice, M365Panel, M365PrivilegedUser, M365SecureScore
from vectis.models.metrics import DailyMetrics, SlaSnapshot
from vectis.models.notes import CustomerNote
from vectis.models.outbox import OutboxMail, QueuedAction
from vectis.models.portal import (
    PortalBranding,
    PortalMailOptOut,
    PortalRecoveryCode,
    PortalRole,
    PortalSettings,
    PortalUser,
    PortalUserSite,
)
from vectis.models.psa import PsaAuthorship, PsaMember, PsaMemberChoice
from vectis.models.queries import QueryExport, SavedQuery
from vectis.models.retention import RETENTION_DAYS, RetentionPolicy
from vectis.models.rules import Rule, RuleDispatch, RuleEvent, RuleFire, RuleMode, RuleVersion
from vectis.models.security import Detection, Suppression
from vectis.models.tenancy import Installation, Role, Tenant, User
from vectis.models.tickets import (
    Ticket,
    TicketBoard,
    TicketNote,
    TicketPriority,
    TicketRelated,
    TicketStatus,
    TicketStatusChange,
)
from vectis.models.timeline import TimelineEvent
from vectis.models.tokens import ApiToken
from vectis.models.webhooks import WebhookDelivery

__all__ = [
    "DEVICE_CLASSES",
    "RETENTION_DAYS",
    "Alert",
    "AlertMute",
    "AlertState",
    "ApiToken",
    "AuditEntry",
    "AuditSeal",
    "BackupAuditEvent",
    "BackupConnector",
    "BackupConnectorStatus",
    "BackupRun",
    "Base",
    "Connection",
    "Contact",
    "Contract",
    "ContractLineItem",
    "Customer",
    "CustomerLink",
    "CustomerNote",
    "DailyMetrics",
    "Detection",
    "Device",
    "Installation",
    "Invite",
    "LicenseScheduledChange",
    "LicenseSubscription",
    "LicenseUsage",
    "LinkStatus",
    "Linked",
    "M365CaPolicy",
    "M365ManagedDevice",
    "M365Panel",
    "M365PrivilegedUser",
    "M365SecureScore",
    "OutboxMail",
    "PortalBranding",
    "PortalMailOptOut",
    "PortalRecoveryCode",
    "PortalRole",
    "PortalSettings",
    "PortalUser",
    "PortalUserSite",
    "PsaAuthorship",
    "PsaMember",
    "PsaMemberChoice",
    "QueryExport",
    "QueuedAction",
    "RecoveryCode",
    "RetentionPolicy",
    "Role",
    "Rule",
    "RuleDispatch",
    "RuleEvent",
    "RuleFire",
    "RuleMode",
    "RuleVersion",
    "SavedQuery",
    "SlaSnapshot",
    "StreamCursor",
    "Suppression",
    "SyncRun",
    "Tenant",
    "TenantOwned",
    "Ticket",
    "TicketBoard",
    "TicketNote",
    "TicketPriority",
    "TicketRelated",
    "TicketStatus",
    "TicketStatusChange",
    "TimelineEvent",
    "User",
    "VendorAlert",
    "WebhookDelivery",
    "classify_condition",
]
