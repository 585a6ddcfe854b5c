"""Admin verbs on the workspace's users."""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy import func, select

from vectis.actions.base import ActionFailed, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.identity import accounts, mfa
from vectis.models import Role, User
from vectis.platform import mail as outbox

ROLE_CHOICES = {role.value for role in Role}


def _user(ctx: Context, target: Target) -> User:
    user = ctx.session.get(User, int(target.id or 0))
    if user is None:
        raise ActionFailed("That user no longer exists.")
    return user


def _active_admins(ctx: Context) -> int:
    return ctx.session.scalar(select(func.count()).where(User.role == Role.ADMIN.value, User.is_active)) or 0


def _keep_an_admin(ctx: Context, user: User) -> None:
    if user.role == Role.ADMIN.value and user.is_active and _active_admins(ctx) <= 1:
        raise ActionFailed(f"{user.name} is the only active admin. Make someone else an admin first.")


def _not_yourself(ctx: Context, user: User, what: str) -> None:
    if ctx.actor.user_id == user.id:
        raise ActionFailed(f"You cannot {what} yourself. Ask another admin.")


@register
class InviteUser(Verb):
    name = "user.invite"
    label = "Invite user"
    target_type = "user"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        email = str(payload.get("email", "")).strip().lower()
        name = str(payload.get("name", "")).strip()
        role = str(payload.get("role", ""))
        if "@" not in email or len(email) > 320:
            raise ActionFailed("Enter the email address the invite should go to.")
        if not name:
            raise ActionFailed("Enter the person's name.")
        if role not in ROLE_CHOICES:
            raise ActionFailed("Choose a role: Admin, Technician or Read-only.")
        if ctx.session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
            raise ActionFailed(f"{email} already has an account in this workspace.")
        user = User(tenant_id=ctx.tenant_id, email=email, name=name[:200], role=role)
        ctx.session.add(user)
        ctx.session.flush()
        invite, token = accounts.create_invite(ctx.session, user, ctx.actor.user_id)
        ctx.session.flush()
        link = url_for("auth.invite", token=token, _external=True)
        mail = outbox.queue_mail(
            ctx,
            to=email,
            subject="You are invited to Vectis",
            body=(
                f"Hello {name},\n\n{ctx.actor.label} invited you to their Vectis workspace as {Role(role).label}.\n"
                f"Set your password and two-factor sign-in here (the link works once, for "
                f"{int(accounts.INVITE_LIFETIME.total_seconds() // 3600)} hours):\n\n{link}\n"
            ),
        )
        return Applied(
            f"Invited {email}. The setup link was sent by mail; you can also copy it below.",
            response={
                "user_id": user.id,
                "invite_id": invite.id,
                "mail_id": mail.id,
                "role": role,
                "expires_at": invite.expires_at.isoformat(),
            },
            private={"link": link, "user_id": user.id},
        )


@register
class ChangeRole(Verb):
    name = "user.change_role"
    label = "Change role"
    target_type = "user"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = _user(ctx, target)
        role = str(payload.get("role", ""))
        if role not in ROLE_CHOICES:
            raise ActionFailed("Choose a role: Admin, Technician or Read-only.")
        if role == user.role:
            return Applied(f"{user.name} is already {Role(role).label}.", response={"role": role})
        _not_yourself(ctx, user, "change the role of")
        if role != Role.ADMIN.value:
            _keep_an_admin(ctx, user)
        before = user.role
        user.role = role
        return Applied(f"{user.name} is now {Role(role).label}.", response={"from": before, "to": role})


@register
class Deactivate(Verb):
    name = "user.deactivate"
    label = "Deactivate user"
    target_type = "user"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = _user(ctx, target)
        _not_yourself(ctx, user, "deactivate")
        _keep_an_admin(ctx, user)
        user.is_active = False
        user.session_version += 1  # a later reactivation must not revive today's sessions
        return Applied(f"{user.name} is deactivated and signed out everywhere.", response={"is_active": False})


@register
class Reactivate(Verb):
    name = "user.reactivate"
    label = "Reactivate user"
    target_type = "user"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = _user(ctx, target)
        user.is_active = True
        return Applied(f"{user.name} can sign in again.", response={"is_active": True})


@register
class ResetMfa(Verb):
    name = "user.reset_mfa"
    label = "Reset two-factor sign-in"
    target_type = "user"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = _user(ctx, target)
        _not_yourself(ctx, user, "reset the two-factor sign-in of")
        mfa.reset(ctx.session, user)
        user.session_version += 1  # whoever holds the lost phone's sessions is out, for good
        return Applied(
            f"Two-factor sign-in of {user.name} was reset. They set it up again at their next sign-in.",
            response={"mfa_enrolled": False},
        )
