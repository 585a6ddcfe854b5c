"""What a portal user does to their own account, as verbs (surface ``portal``): change their password, turn two-factor
sign-in on (a confirmed code; recovery codes come back once, in ``private``), make new recovery codes or turn it off
(each with the password: fresh proof it is the person, not only their open tab). Each changes how the person signs
in, so each ends their other sessions (``identity.sessions``; the request that made it keeps its own) and its audit row
says so. And the operators' side: resetting someone's second factor after a lost phone, and the workspace's "require
it" switch. The TOTP itself is the operators' code (``vectis/identity/mfa.py``), for the other kind of account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vectis.actions.base import ActionFailed, Actor, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.identity import mfa
from vectis.identity.passwords import verify_password
from vectis.identity.sessions import retire_sessions
from vectis.models import PortalRole, PortalSettings, PortalUser, Role
from vectis.platform import params
from vectis.portal_access import settings as portal_settings
from vectis.portal_access import users
from vectis.portal_access.verbs import OPERATORS, PortalVerb, active_portal_user

REQUIRED = "Your IT provider requires two-factor sign-in for the portal, so it stays on."
SIGNED_OUT_ELSEWHERE = "You are signed out everywhere else."
WRONG_CODE = "That code is not right. Check that your phone's clock is set automatically and try the newest code."


ON, OFF = frozenset({True, "1", "on", "true"}), frozenset({False, None, "", "0", "off", "false"})


def _switch(value: Any) -> bool:
    """A checkbox (``"1"`` or absent) or the API's JSON boolean; anything else is refused, not guessed."""
    if isinstance(value, bool | str | None):
        if value in ON:
            return True
        if value in OFF:
            return False
    raise ActionFailed("Say whether two-factor sign-in is required: on or off.")


class OwnAccountVerb(PortalVerb):
    """What a portal user does to their own account, whatever their portal role."""

    target_type = "portal_user"
    reaches_vendor = False
    portal_roles = frozenset(PortalRole)

    def permitted(self, actor: Actor, target: Target) -> bool:
        return super().permitted(actor, target) and target.type == "portal_user" and actor.id == target.id


def _password(user: PortalUser, payload: dict[str, Any], why: str) -> None:
    if not verify_password(str(payload.get("password") or ""), user.password_hash):
        raise ActionFailed(f"Enter your password {why}.")


@register
class ChangePortalPassword(OwnAccountVerb):
    """A new password, by the same rules as the setup link's; every other session ends (the caller keeps its own)."""

    name = "portal.change_password"
    label = "Change a portal password"
    secret_fields = frozenset({"current_password", "new_password", "confirm_password"})

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = active_portal_user(ctx, target)
        if not verify_password(str(payload.get("current_password") or ""), user.password_hash):
            raise ActionFailed("Your current password is not right.")
        problem = users.set_password(
            user, str(payload.get("new_password") or ""), str(payload.get("confirm_password") or "")
        )
        if problem is not None:
            raise ActionFailed(problem)
        return Applied(
            f"Your password was changed. {SIGNED_OUT_ELSEWHERE}",
            response={"session_version": user.session_version, "signed_out_elsewhere": True},
        )


@register
class EnrolTwoFactor(OwnAccountVerb):
    """Turn two-factor sign-in on: ``secret`` (shown on the enrolment page, kept in the session meanwhile) confirmed
    by a ``code`` from the app. Both are secrets: neither reaches the audit log."""

    name = "portal.mfa_enrol"
    label = "Turn on two-factor sign-in for the portal"
    secret_fields = frozenset({"secret", "code"})
    repeatable = False

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        user = ctx.session.get(PortalUser, params.integer(target.id) or 0)
        return "Two-factor sign-in is already on." if user is not None and user.mfa_enrolled else None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = active_portal_user(ctx, target)
        secret = str(payload.get("secret") or "")
        step = mfa.matching_step(secret, str(payload.get("code") or "")) if secret else None
        if step is None:
            raise ActionFailed(WRONG_CODE)
        mfa.enrol(user, secret, step)
        codes = mfa.replace_recovery_codes(ctx.session, user)
        # A session opened with the password alone must not outlast the switch to two factors (nor come back to life
        # when someone a workspace's requirement had signed out enrols at their next sign-in).
        ended = retire_sessions(user)
        return Applied(
            f"Two-factor sign-in is on: the portal asks for a code from your app after your password. "
            f"{SIGNED_OUT_ELSEWHERE}",
            response={"recovery_codes": len(codes), **ended},
            private={"codes": codes},
        )


@register
class NewRecoveryCodes(OwnAccountVerb):
    name = "portal.recovery_codes"
    label = "Make new portal recovery codes"
    secret_fields = frozenset({"password"})

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = active_portal_user(ctx, target)
        if not user.mfa_enrolled:
            raise ActionFailed("Turn on two-factor sign-in first.")
        _password(user, payload, "to make new recovery codes")
        codes = mfa.replace_recovery_codes(ctx.session, user)
        ended = retire_sessions(user)  # a session someone opened with a leaked old code ends with it
        return Applied(
            f"New recovery codes were made; the old ones no longer work. {SIGNED_OUT_ELSEWHERE}",
            response={"count": len(codes), **ended},
            private={"codes": codes},
        )


@register
class TurnOffTwoFactor(OwnAccountVerb):
    name = "portal.mfa_disable"
    label = "Turn off two-factor sign-in for the portal"
    secret_fields = frozenset({"password"})

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        user = ctx.session.get(PortalUser, params.integer(target.id) or 0)
        return "Two-factor sign-in is already off." if user is not None and not user.mfa_enrolled else None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = active_portal_user(ctx, target)
        if portal_settings.requires_mfa(ctx.session):
            raise ActionFailed(REQUIRED)
        _password(user, payload, "to turn two-factor sign-in off")
        mfa.reset(ctx.session, user)
        # Whoever holds another of their sessions may be why they turn it off; a password alone opens none of them.
        ended = retire_sessions(user)
        return Applied(
            f"Two-factor sign-in is off: your password alone signs you in. {SIGNED_OUT_ELSEWHERE}",
            response={"mfa": False, **ended},
        )


@register
class ResetPortalTwoFactor(Verb):
    """For a portal user who lost their phone: their second factor and recovery codes go, and so does every session
    they had (whoever holds the lost phone is out). They sign in with their password alone, or enrol again at once
    where the workspace requires it."""

    name = "portal_user.reset_mfa"
    label = "Reset a portal user's two-factor sign-in"
    target_type = "portal_user"
    reaches_vendor = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type != "portal_user" and actor.role in OPERATORS

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        user = ctx.session.get(PortalUser, params.integer(target.id) or 0)
        return f"{user.email} has no two-factor sign-in." if user is not None and not user.mfa_enrolled else None

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = ctx.session.get(PortalUser, params.integer(target.id) or 0)
        if user is None:
            raise ActionFailed("That portal user no longer exists.")
        mfa.reset(ctx.session, user)
        user.session_version += 1
        then = (
            "set it up again right after their password at their next sign-in"
            if portal_settings.requires_mfa(ctx.session)
            else "now sign in with their password alone"
        )
        return Applied(
            f"Two-factor sign-in is off for {user.email}: they were signed out everywhere, and {then}.",
            response={"portal_user_id": user.id, "mfa": False},
        )


@register
class SignInPolicy(Verb):
    """Admin → Portal → Sign-in: require two-factor sign-in of every portal user of the workspace. Those without it
    are taken to enrolment right after their password (and signed-in sessions without it end)."""

    name = "portal.sign_in_policy"
    label = "Change the portal's sign-in policy"
    target_type = "tenant"
    reaches_vendor = False

    def permitted(self, actor: Actor, target: Target) -> bool:
        return actor.type != "portal_user" and actor.role == Role.ADMIN.value

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        wanted = _switch(payload.get("require_mfa"))
        row = portal_settings.workspace_row(ctx.session)
        if row is None:
            row = PortalSettings(tenant_id=ctx.tenant_id, customer_id=None)
            ctx.session.add(row)
        row.require_mfa, row.updated_at = wanted, datetime.now(UTC)
        ctx.session.flush()
        said = (
            "Portal users now sign in with a second factor; those without one set it up right after their password."
            if wanted
            else "Two-factor sign-in is now up to each portal user."
        )
        return Applied(said, response={"require_mfa": wanted})
