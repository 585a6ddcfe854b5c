"""All models, imported here so ``Base.metadata`` is complete for Alembic and the catalog tests."""

from vectis.models.base import Base, TenantOwned
from vectis.models.tenancy import Role, Tenant, User

__all__ = ["Base", "Role", "Tenant", "TenantOwned", "User"]
