"""The one write-back path: verbs, ``perform()`` and the audit log writer (built in the accounts issue)."""
