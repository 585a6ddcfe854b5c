"""The customer portal on the REST API, for a token with the ``admin`` scope: portal users (list, get, invite,
deactivate), the branding and the portal settings. Every change is the browser's verb (``act``), audited the same."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select

from vectis.actions import Target
from vectis.actions.resources import (
    ActionOut,
    ActionQuery,
    Call,
    KeysetQuery,
    Page,
    Problem,
    Schema,
    acted,
    id_shape,
    keyset,
    operation,
    page_of,
)
from vectis.branding import contrast
from vectis.models import Customer, PortalBranding, PortalSettings, PortalUser, PortalUserSite, TicketBoard
from vectis.platform import public_ids
from vectis.portal_access import settings as portal_settings

TAG = "Portal"


class PortalUserOut(Schema):
    id: str = Field(description="ptu_…")
    customer_id: str = Field(description="The customer they belong to (cus_…)")
    name: str
    email: str
    role: str = Field(description="admin (also invites colleagues), member (acts on tickets) or viewer (reads)")
    site_ids: list[str] = Field(description="The sites they are limited to (cus_…); empty: all of the customer's")
    state: str = Field(description="invited (no password yet), active or deactivated")
    two_factor: bool = Field(description="Whether they sign in with an authenticator app's code too")
    last_signed_in_at: datetime | None


def _out(user: PortalUser, sites: list[int]) -> PortalUserOut:
    state = "deactivated" if not user.is_active else "active" if user.password_hash else "invited"
    return PortalUserOut(
        id=public_ids.encode("portal_user", user.id),
        customer_id=public_ids.encode("customer", user.customer_id),
        name=user.name,
        email=user.email,
        role=user.role,
        site_ids=[public_ids.encode("customer", s) for s in sorted(sites)],
        state=state,
        two_factor=user.mfa_enrolled,
        last_signed_in_at=user.last_signed_in_at,
    )


def _sites(call: Call, ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for row in call.session.execute(
        select(PortalUserSite.portal_user_id, PortalUserSite.customer_id).where(PortalUserSite.portal_user_id.in_(ids))
    ):
        found.setdefault(row.portal_user_id, []).append(row.customer_id)
    return found


class PortalUserQuery(KeysetQuery):
    shape = ("portal_user",)
    customer_id: Annotated[str, id_shape("customer")] | None = Field(default=None, description="Only this customer's")


@operation(
    "GET", "/portal/users", scope="admin", summary="List portal users", tag=TAG, response=PortalUserOut,
    query=PortalUserQuery, paged=True,
)  # fmt: skip
def list_portal_users(call: Call) -> Page[PortalUserOut]:
    query: PortalUserQuery = call.query
    statement = select(PortalUser).order_by(PortalUser.id).limit(query.limit + 1)
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        statement = statement.where(PortalUser.customer_id == (customer or 0))
    if after := query.after:
        statement = statement.where(PortalUser.id > after[0])
    users = list(call.session.scalars(statement))
    sites = _sites(call, [u.id for u in users])
    rows = [_out(u, sites.get(u.id, [])) for u in users]
    return page_of(rows, query.limit, lambda u: keyset(u.id))


@operation(
    "GET", "/portal/users/{portal_user_id}", scope="admin", summary="Get a portal user", tag=TAG,
    response=PortalUserOut,
)  # fmt: skip
def get_portal_user(call: Call, portal_user_id: int) -> PortalUserOut:
    user = call.get(PortalUser, portal_user_id, "portal user")
    return _out(user, _sites(call, [user.id]).get(user.id, []))


class InviteIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=1, max_length=320)
    role: str = Field(description="admin, member or viewer")
    site_ids: list[Annotated[str, id_shape("customer")]] = Field(
        default_factory=list, description="Limit them to these sites of the customer (cus_…); none: all"
    )


class InviteOut(ActionOut):
    portal_user_id: str | None = Field(default=None, description="The new portal user (ptu_…)")
    setup_link: str | None = Field(
        default=None, description="Their one-time setup link (72 hours), also mailed to them: shown once, never again"
    )


@operation(
    "POST", "/customers/{customer_id}/portal-users", scope="admin", summary="Invite a portal user", tag=TAG,
    response=InviteOut, query=ActionQuery, body=InviteIn,
)  # fmt: skip
def invite_portal_user(call: Call, customer_id: int) -> InviteOut:
    """A person at the customer who may sign in to the customer portal, limited to some of its sites if given."""
    customer = call.get(Customer, customer_id, "customer")
    body: InviteIn = call.body
    sites = [public_ids.decode("customer", s) or 0 for s in body.site_ids]
    payload: dict[str, Any] = {"name": body.name, "email": body.email, "role": body.role, "site_ids": sites}
    answer, outcome = acted(call, "portal_user.invite", Target("customer", str(customer.id), customer.name), payload)
    made = outcome.private.get("portal_user_id")
    return InviteOut(
        **answer.model_dump(),
        portal_user_id=public_ids.encode("portal_user", int(made)) if made else None,
        setup_link=outcome.private.get("link"),
    )


@operation(
    "POST", "/portal/users/{portal_user_id}/deactivate", scope="admin", summary="Deactivate a portal user", tag=TAG,
    response=ActionOut, query=ActionQuery,
)  # fmt: skip
def deactivate_portal_user(call: Call, portal_user_id: int) -> ActionOut:
    user = call.get(PortalUser, portal_user_id, "portal user")
    return acted(call, "portal_user.deactivate", Target("portal_user", str(user.id), user.email), {})[0]


class BrandingOut(Schema):
    company_name: str | None = Field(description="None: not branded yet (the portal shows the workspace's name)")
    accent: str | None = Field(description="#rrggbb")
    accent_text: str | None = Field(description="The text colour the portal puts on the accent")
    contrast_ratio: float | None = Field(description="Of that text on the accent; WCAG AA needs 4.5")
    logo_content_type: str | None = Field(description="image/svg+xml (sanitised) or image/png; None: no logo")
    postal_address: str | None = Field(default=None, description="In the footer of digests and announcements")


@operation("GET", "/portal/branding", scope="admin", summary="Get the portal's branding", tag=TAG, response=BrandingOut)
def get_portal_branding(call: Call) -> BrandingOut:
    row = call.session.scalar(select(PortalBranding))
    if row is None:
        return BrandingOut(
            company_name=None, accent=None, accent_text=None, contrast_ratio=None, logo_content_type=None
        )
    verdict = contrast.judge(row.accent)
    return BrandingOut(
        company_name=row.company_name,
        accent=row.accent,
        accent_text=verdict.text,
        contrast_ratio=round(verdict.ratio, 2),
        logo_content_type=row.logo_content_type if row.logo else None,
        postal_address=row.postal_address,
    )


class BrandingIn(Schema):
    company_name: str = Field(min_length=1, max_length=200)
    accent: str = Field(max_length=7, description="#rrggbb; refused when text on it fails WCAG AA (4.5:1)")
    logo_name: str | None = Field(default=None, max_length=200, description="logo.svg or logo.png")
    logo_content: str | None = Field(default=None, description="The logo file, base64 (at most 512 KB)")
    remove_logo: bool = False
    postal_address: str | None = Field(default=None, max_length=500, description="For the footer of digests")


@operation(
    "POST", "/portal/branding", scope="admin", summary="Change the portal's branding", tag=TAG, response=ActionOut,
    query=ActionQuery, body=BrandingIn,
)  # fmt: skip
def set_portal_branding(call: Call) -> ActionOut:
    """An SVG logo is rebuilt from an allowlist: scripts, embedded HTML, event handlers and references outside the
    file are removed (the answer says what was)."""
    body: BrandingIn = call.body
    workspace = Target("tenant", str(call.tenant_id), "workspace")
    return acted(call, "portal.branding", workspace, body.model_dump(exclude_none=True))[0]


class SurfacesOut(Schema):
    tickets: bool
    assets: bool
    backups: bool


class CustomerPortalOut(SurfacesOut):
    customer_id: str
    board_id: str | None = Field(description="Where its new portal tickets go (brd_…); None: nowhere yet")


class PortalSettingsOut(Schema):
    workspace: SurfacesOut = Field(description="For every customer: a surface off here is off everywhere")
    customers: list[CustomerPortalOut] = Field(description="Customers with settings of their own")
    require_two_factor: bool = Field(
        description="Every portal user signs in with an authenticator app's code too; those without one set it up "
        "right after their password"
    )


@operation(
    "GET", "/portal/settings", scope="admin", summary="Get the portal's settings", tag=TAG, response=PortalSettingsOut
)
def get_portal_settings(call: Call) -> PortalSettingsOut:
    on = portal_settings.workspace(call.session)
    rows = call.session.scalars(
        select(PortalSettings).where(PortalSettings.customer_id.is_not(None)).order_by(PortalSettings.customer_id)
    )
    return PortalSettingsOut(
        workspace=SurfacesOut(tickets=on.tickets, assets=on.assets, backups=on.backups),
        customers=[
            CustomerPortalOut(
                customer_id=public_ids.encode("customer", int(r.customer_id or 0)),
                tickets=r.tickets,
                assets=r.assets,
                backups=r.backups,
                board_id=public_ids.encode("board", r.board_id) if r.board_id else None,
            )
            for r in rows
        ],
        require_two_factor=portal_settings.requires_mfa(call.session),
    )


class PortalSettingsIn(Schema):
    customer_id: Annotated[str, id_shape("customer")] | None = Field(
        default=None, description="This customer's settings; none: the workspace's"
    )
    tickets: bool = True
    assets: bool = True
    backups: bool = True
    board_id: Annotated[str, id_shape("board")] | None = Field(
        default=None, description="With a customer: the board its new portal tickets go to (brd_…)"
    )


@operation(
    "POST", "/portal/settings", scope="admin", summary="Change the portal's settings", tag=TAG, response=ActionOut,
    query=ActionQuery, body=PortalSettingsIn,
)  # fmt: skip
def set_portal_settings(call: Call) -> ActionOut:
    body: PortalSettingsIn = call.body
    payload: dict[str, Any] = {"tickets": body.tickets, "assets": body.assets, "backups": body.backups}
    if body.customer_id:
        customer = public_ids.decode("customer", body.customer_id)
        if customer is None or call.session.get(Customer, customer) is None:
            raise Problem(404, "No such customer.")
        payload["customer_id"] = customer
        if body.board_id:
            board = public_ids.decode("board", body.board_id)
            if board is None or call.session.get(TicketBoard, board) is None:
                raise Problem(422, "Choose one of your PSA's boards (brd_…).")
            payload["board_id"] = board
    return acted(call, "portal.settings", Target("tenant", str(call.tenant_id), "workspace"), payload)[0]


class SignInPolicyIn(Schema):
    require_two_factor: bool = Field(description="True: every portal user signs in with a second factor")


@operation(
    "POST", "/portal/settings/sign-in", scope="admin", summary="Require two-factor sign-in of portal users, or not",
    tag=TAG, response=ActionOut, query=ActionQuery, body=SignInPolicyIn,
)  # fmt: skip
def set_portal_sign_in_policy(call: Call) -> ActionOut:
    body: SignInPolicyIn = call.body
    target = Target("tenant", str(call.tenant_id), "workspace")
    return acted(call, "portal.sign_in_policy", target, {"require_mfa": body.require_two_factor})[0]
