"""Microsoft 365 posture per customer: the four panels of the hub's Microsoft 365 tab (Intune compliance, Secure Score,
Conditional Access coverage, privileged-account MFA), what syncs write for them (``writer``), what the tab and the API
read (``queries``), the Secure Score sparkline (``sparkline``) and the REST resources and MCP tool (``api``)."""
