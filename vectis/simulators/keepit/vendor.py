"""What Keepit's API defines and the simulator publishes: the datacenters (regions), the demo parent
account and its two logins, paging limits, content types, connector types, and Keepit's time format."""

from __future__ import annotations

from datetime import UTC, datetime

REGIONS: dict[str, str] = {
    "ws": "Denmark",
    "dk-co": "Denmark (Copenhagen)",
    "de-fr": "Germany (Frankfurt)",
    "ch-zh": "Switzerland (Zurich)",
    "uk-ld": "United Kingdom (London)",
    "us-dc": "USA",
    "ca-tr": "Canada (Toronto)",
    "au-sy": "Australia (Sydney)",
}
DEFAULT_REGION = "us-dc"
PARENT_GUID = "y17hbi-i620pk-80q5x2"  # the example in Vectis' own Keepit guide
PARENT_COMPANY = "Summit MSP"
DEMO_USERNAME = "admin@summit-msp.example"
DEMO_PASSWORD = "keepit-demo-password"  # noqa: S105 - the simulator's published demo credential
DEMO_TOKEN_LOGIN = "k7Q%x2+Lmv,9Tz?Rb!4wEp"  # noqa: S105 - token logins carry %, +, ',', ? and !
DEMO_TOKEN_PASSWORD = "Zp8!vQ2m+Ks%Lt7,Wx?e3Rb"  # noqa: S105
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
XML = "application/xml"
REALM = 'Basic realm="Keepit"'
AUTH_FAILURE_REASONS = ("BADLOGIN", "BADTOKEN")
DEVICE_TYPES: dict[str, str] = {  # type -> the product's label in job descriptions
    "o365-admin": "Microsoft 365",
    "azure-ad": "Entra ID",
    "gsuite": "Google Workspace",
    "sforce": "Salesforce",
    "dynamics365": "Dynamics 365",
    "powerbi": "Power BI",
    "zendesk": "Zendesk",
    "azure-do": "Azure DevOps",
    "dsl": "",  # generic: the product is in agent-type
}
DSL_AGENTS: dict[str, str] = {"okta": "Okta", "jira": "Jira", "confluence": "Confluence", "miro": "Miro"}


# --- time ----------------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """``2025-03-14T09:30:12Z``: UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    """An ISO 8601 date or date-time (no offset means UTC), else None."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
