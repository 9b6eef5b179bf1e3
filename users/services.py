"""Writes on users. Functions take keyword arguments only; each change is one transaction."""

import uuid

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from auth.ratelimit import login_attempt_claim, login_attempt_succeeded
from auth.services import session_revoke_all
from restapi import background
from restapi.exceptions import Conflict, Forbidden
from users import emails
from users.models import Role, TokenPurpose, User, UserState, normalize_email
from users.onetime import InvalidOneTimeToken, token_cancel, token_issue, token_match, token_use
from users.signals import announce


class EmailTaken(Conflict):
    default_code = "email_taken"
    default_detail = "An account with this email already exists."


def _check_password_rules(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc


def _save(user: User) -> None:
    """Saves inside the caller's transaction, which a 409 rolls back whole (so no savepoint).

    The unique index on email decides races (two registrations, a change and a verify).
    """
    try:
        user.save()
    except IntegrityError as exc:
        raise EmailTaken() from exc


def _verification_start(user: User) -> None:
    token = token_issue(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
    emails.send_verification(user=user, to=user.email, token=token)


@transaction.atomic
def user_create(*, email: str, password: str) -> User:
    user = User(email=normalize_email(email))
    _check_password_rules(password, user)
    user.set_password(password)
    _save(user)
    if settings.USER_EMAIL_VERIFICATION_ENABLED:
        _verification_start(user)
    announce(user, "user.created")
    return user


def _check_current_password(user: User, current_password: str | None) -> None:
    # Guessing through this check is throttled like guessing through /login.
    login_attempt_claim(email=user.email)
    if not (current_password and user.check_password(current_password)):
        raise ValidationError(
            {"current_password": ["Give your current password to change email or password."]}
        )
    login_attempt_succeeded(email=user.email)


def _email_change(user: User, email: str, *, by_owner: bool) -> str | None:
    """The owner's change waits for the new address's link; an admin's is immediate.

    Returns which field changed ("pending_email" or "email"), or None.
    """
    email = normalize_email(email)
    if email == user.email:
        if user.pending_email is None:
            return None
        # The current address again withdraws the pending change; its link stops working.
        user.pending_email = None
        token_cancel(user=user, purpose=TokenPurpose.EMAIL_CHANGE)
        return "pending_email"
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        raise EmailTaken()
    if by_owner and settings.USER_EMAIL_VERIFICATION_ENABLED:
        user.pending_email = email
        token = token_issue(user=user, purpose=TokenPurpose.EMAIL_CHANGE, new_email=email)
        emails.send_verification(user=user, to=email, token=token)
        emails.send_email_change_notice(old=user.email, new=email)
        return "pending_email"
    user.email, user.pending_email, user.verified = email, None, 0
    token_cancel(user=user, purpose=TokenPurpose.EMAIL_CHANGE)  # a pending change is void
    if settings.USER_EMAIL_VERIFICATION_ENABLED:
        _verification_start(user)
    return "email"


def _update_event(changes: list[str], user: User) -> str | None:
    """One event per update: the specific type when one thing changed, else user.updated."""
    if changes == ["password"]:
        return "user.password_changed"
    if changes == ["email"]:
        return "user.email_changed"
    if changes == ["state"]:
        return "user.deactivated" if user.state == UserState.DEACTIVATED else "user.reactivated"
    return "user.updated" if changes else None


def user_update(
    *,
    actor: User,
    user: User,
    actor_session: uuid.UUID | None = None,
    email: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
    state: int | None = None,
    role: str | None = None,
) -> User:
    """A password change revokes every session of the user but the actor's own current one."""
    by_owner = actor.pk == user.pk
    if (state is not None or role is not None) and not actor.is_admin:
        raise Forbidden(detail="Only an admin can change state or role.")
    if (email is not None or password is not None) and by_owner:
        _check_current_password(user, current_password)
    changes = []
    if password is not None:
        _check_password_rules(password, user)
        user.set_password(password)
        changes.append("password")
    if state is not None and state != user.state:
        user.state = UserState(state)
        changes.append("state")
    if role is not None and role != user.role:
        user.role = Role(role)
        changes.append("role")
    with transaction.atomic():
        if email is not None and (changed := _email_change(user, email, by_owner=by_owner)):
            changes.append(changed)
        _save(user)
        if password is not None:
            session_revoke_all(
                user=user, reason="password_changed", keep=actor_session if by_owner else None
            )
        if "state" in changes and user.state == UserState.DEACTIVATED:
            session_revoke_all(user=user, reason="deactivated")
        if event_type := _update_event(changes, user):
            announce(user, event_type, changes=changes)
    return user


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    user.state = UserState.DEACTIVATED
    user.save(update_fields=["state", "updated_at"])
    session_revoke_all(user=user, reason="deactivated")
    announce(user, "user.deactivated")
    return user


@transaction.atomic
def user_set_role(*, user: User, role: Role) -> User:
    """For operators (manage.py create_admin): no actor check, the shell is the authority."""
    user.role = role
    user.save(update_fields=["role", "updated_at"])
    return user


def user_verify(*, user_id: int, token: str) -> User:
    """Uses a verification link: confirms the email, or makes the pending email the login."""
    user = User.objects.filter(pk=user_id, state=UserState.ACTIVE).first()
    if user is None:
        raise InvalidOneTimeToken()
    used = token_match(
        user_id=user.pk,
        purposes=[TokenPurpose.VERIFY_EMAIL, TokenPurpose.EMAIL_CHANGE],
        presented=token,
    )
    with transaction.atomic():
        token_use(used)
        event_type = "user.verified"
        if used.purpose == TokenPurpose.EMAIL_CHANGE:
            if used.new_email != user.pending_email:
                raise InvalidOneTimeToken()
            user.email, user.pending_email = used.new_email, None
            event_type = "user.email_changed"
        user.verified = 1
        # A pending address another account took meanwhile: 409, and the token stays unused.
        _save(user)
        announce(user, event_type)
    return user


@transaction.atomic
def verification_resend(*, user: User) -> None:
    """A fresh link for the pending address, or for the current one if it is unverified."""
    if user.pending_email:
        token = token_issue(
            user=user, purpose=TokenPurpose.EMAIL_CHANGE, new_email=user.pending_email
        )
        emails.send_verification(user=user, to=user.pending_email, token=token)
    elif not user.verified:
        _verification_start(user)


def _active_user(email: str) -> User | None:
    return User.objects.filter(email=normalize_email(email), state=UserState.ACTIVE).first()


def _verification_resend_job(email: str) -> None:
    user = _active_user(email)
    if user is not None:
        verification_resend(user=user)


def _password_reset_job(email: str) -> None:
    user = _active_user(email)
    if user is None:
        return
    with transaction.atomic():
        token = token_issue(user=user, purpose=TokenPurpose.PASSWORD_RESET)
        emails.send_password_reset(user=user, token=token)
        announce(user, "user.password_reset_requested")


def verification_resend_by_email(*, email: str) -> None:
    """Answered the same whether or not the account exists: the lookup runs in the background."""
    background.submit(_verification_resend_job, email)


def password_reset_request(*, email: str) -> None:
    """Answered the same whether or not the account exists: the lookup runs in the background."""
    background.submit(_password_reset_job, email)


def password_reset_complete(*, email: str, token: str, password: str) -> User:
    user = _active_user(email)
    if user is None:
        raise InvalidOneTimeToken()
    used = token_match(user_id=user.pk, purposes=[TokenPurpose.PASSWORD_RESET], presented=token)
    _check_password_rules(password, user)
    user.set_password(password)
    with transaction.atomic():
        token_use(used)
        user.save(update_fields=["password", "updated_at"])
        session_revoke_all(user=user, reason="password_reset")
        announce(user, "user.password_reset")
    return user
