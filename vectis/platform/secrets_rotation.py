"""Re-encrypt every stored secret with the newest key (``flask vectis rotate-keys``)."""

from __future__ import annotations

from sqlalchemy import Table, select, update

from vectis.models import Base
from vectis.platform.crypto import Sealed, SealedType, SecretUnreadable
from vectis.platform.db import system_session


def sealed_columns() -> list[tuple[Table, str]]:
    found: list[tuple[Table, str]] = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, SealedType):
                if "tenant_id" not in table.columns:
                    raise RuntimeError(f"{table.name}.{column.name}: a secret column needs a tenant_id beside it")
                found.append((table, column.name))
    return found


def rotate_all() -> dict[str, int]:
    """Returns how many secrets were re-sealed per ``table.column``. Runs in one transaction: a secret
    that does not open aborts the whole rotation, so nothing is left half-rotated."""
    counts: dict[str, int] = {}
    with system_session() as s:
        for table, name in sealed_columns():
            column = table.c[name]
            rows = s.execute(select(table.c.id, table.c.tenant_id, column).where(column.is_not(None))).all()
            for row_id, tenant_id, sealed in rows:
                if not isinstance(sealed, Sealed):
                    raise TypeError(f"{table.name}.{name} #{row_id} is not a sealed value")
                try:
                    fresh = sealed.rotated(tenant_id)
                except SecretUnreadable as exc:
                    raise SecretUnreadable(
                        f"{table.name}.{name} of row {row_id} (tenant {tenant_id}) does not decrypt with any "
                        "configured key; nothing was re-encrypted"
                    ) from exc
                s.execute(update(table).where(table.c.id == row_id).values({name: fresh}))
            counts[f"{table.name}.{name}"] = len(rows)
    return counts
