"""What every operator may do to their own account."""

from __future__ import annotations

from typing import Any

from vectis.actions.base import ActionFailed, Applied, Context, SelfServiceVerb, Target
from vectis.actions.registry import register
from vectis.identity import accounts, mfa
from vectis.identity.passwords import hash_password, verify_password
from vectis.identity.sessions import retire_sessions
from vectis.models import User


def _self(ctx: Context, target: Target) -> User:
    user = ctx.session.get(User, int(target.id or 0))
    if user is None:
        raise ActionFailed("Your account no longer exists.")
    return user


@register
class ChangePassword(SelfServiceVerb):
    name = "account.change_password"
    label = "Change password"
    secret_fields = frozenset({"current_password", "new_password", "confirm_password"})

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = _self(ctx, target)
        if not verify_password(str(payload.get("current_password", "")), user.password_hash):
            raise ActionFailed("Your current password is not right.")
        new = str(payload.get("new_password", ""))
        problem = accounts.password_problem(new, payload.get("confirm_password"), email=user.email)
        if problem:
            raise ActionFailed(problem)
        user.password_hash = hash_password(new)
        return Applied("Your password was changed. Your other sessions are signed out.", response=retire_sessions(user))


@register
class RegenerateRecoveryCodes(SelfServiceVerb):
    name = "account.regenerate_recovery_codes"
    label = "Regenerate recovery codes"
    secret_fields = frozenset({"current_password"})

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        user = _self(ctx, target)
        if not user.mfa_enrolled:
            raise ActionFailed("Set up two-factor sign-in first.")
        # Fresh proof it is the person, not only their open tab: new codes are a way into the account.
        if not verify_password(str(payload.get("current_password", "")), user.password_hash):
            raise ActionFailed("Enter your current password to make new recovery codes.")
        codes = mfa.replace_recovery_codes(ctx.session, user)
        # A new way into the account, as a new password is: a session someone opened with a leaked old code ends too.
        ended = retire_sessions(user)
        return Applied(
            "New recovery codes were made; the old ones no longer work. Your other sessions are signed out.",
            response={"count": len(codes), **ended},
            private={"codes": codes},
        )
