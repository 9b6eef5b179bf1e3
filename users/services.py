"""Writes on users. Functions take keyword arguments only; each change is one transaction.

A write locks the user's row, decides on the copy it reads then (not on the one loaded
when the request authenticated) and saves only the fields it changes, so two writes on
one user never undo each other. Password hashing, which takes tens of milliseconds, runs
before the lock.
"""

import uuid

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from auth.ratelimit import bucket_take
from auth.services import Tokens, password_check, session_renew, session_revoke_all
from restapi import background
from restapi.exceptions import (
    EmailTaken,
    Forbidden,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidOneTimeToken,
)
from users import emails
from users.models import MalformedEmail, Role, TokenPurpose, User, UserState, normalize_email
from users.onetime import token_cancel, token_issue, token_match, token_use
from users.signals import announce


def _check_password_rules(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc


def _normalized(email: str) -> str:
    try:
        return normalize_email(email)
    except MalformedEmail:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None


def _locked(user: User) -> User:
    """The user's row as it is now, locked until the caller's transaction ends."""
    return User.objects.select_for_update().get(pk=user.pk)


def _save(user: User, fields: list[str] | None = None) -> None:
    """Saves inside the caller's transaction, which a 409 rolls back whole (so no savepoint).

    The unique index on email decides races (two registrations, a change and a verify).
    """
    try:
        user.save(update_fields=None if fields is None else [*fields, "updated_at"])
    except IntegrityError as exc:
        raise EmailTaken() from exc


def _verification_start(user: User) -> None:
    token = token_issue(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
    emails.send_verification(user=user, to=user.email, token=token)


def _pending_email_link(user: User, email: str) -> None:
    """The link that makes `email` the user's login. If another account has that address,
    its owner gets a notice instead and no link goes out; the token is made either way,
    so the requester cannot tell the two apart (and verifying refuses a taken address)."""
    token = token_issue(user=user, purpose=TokenPurpose.EMAIL_CHANGE, new_email=email)
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        emails.send_address_in_use_notice(to=email)
    else:
        emails.send_verification(user=user, to=email, token=token)


@transaction.atomic
def user_create(*, email: str, password: str) -> User:
    user = User(email=_normalized(email))
    _check_password_rules(password, user)
    user.set_password(password)
    _save(user)
    if settings.USER_EMAIL_VERIFICATION_ENABLED:
        _verification_start(user)
    announce(user, "user.created")
    return user


def _check_current_password(user: User, current_password: str | None, client_ip: str) -> None:
    message = {"current_password": ["Give your current password to change email or password."]}
    if not current_password:
        raise ValidationError(message)
    try:
        checked = password_check(email=user.email, password=current_password, client_ip=client_ip)
    except InvalidCredentials:
        raise ValidationError(message) from None
    if checked.pk != user.pk:  # the address changed hands since the request authenticated
        raise ValidationError(message)


def _email_change(user: User, email: str, *, by_owner: bool) -> list[str]:
    """The owner's change waits for the new address's link; an admin's is immediate.

    Returns the fields it changed on `user` (locked), the first naming the change.
    """
    if email == user.email:
        if user.pending_email is None:
            return []
        # The current address again withdraws the pending change; its link stops working.
        user.pending_email = None
        token_cancel(user=user, purpose=TokenPurpose.EMAIL_CHANGE)
        return ["pending_email"]
    if by_owner and settings.USER_EMAIL_VERIFICATION_ENABLED:
        # Held alike whether or not the address is taken: only the mail differs.
        user.pending_email = email
        _pending_email_link(user, email)
        emails.send_email_change_notice(old=user.email, new=email)
        return ["pending_email"]
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        raise EmailTaken()
    user.email, user.pending_email, user.verified = email, None, 0
    token_cancel(user=user, purpose=TokenPurpose.EMAIL_CHANGE)  # a pending change is void
    if settings.USER_EMAIL_VERIFICATION_ENABLED:
        _verification_start(user)
    return ["email", "pending_email", "verified"]


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
    client_ip: str = "",
    email: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
    state: int | None = None,
    role: str | None = None,
) -> tuple[User, Tokens | None]:
    """The updated user, and fresh tokens for the actor's session after a change of their
    own password (every other session of the user is revoked)."""
    by_owner = actor.pk == user.pk
    if (state is not None or role is not None) and not actor.is_admin:
        raise Forbidden(detail="Only an admin can change state or role.")
    if (email is not None or password is not None) and by_owner:
        _check_current_password(user, current_password, client_ip)
    if email is not None:
        email = _normalized(email)
        if by_owner and email != user.email:
            # Each change mails an address: bounded per account and per client (in this
            # order, so that an account over its limit leaves the address's to others).
            bucket_take(action="email_change_account", key=str(user.pk))
            bucket_take(action="email_change", key=client_ip)
    encoded = None
    if password is not None:
        _check_password_rules(password, user)
        encoded = make_password(password)
    with transaction.atomic():
        user = _locked(user)
        if by_owner and not user.is_active:
            # Deactivated while this request ran: its session is revoked, nothing changes.
            raise InvalidAccessToken()
        if by_owner and (state is not None or role is not None) and not user.is_admin:
            raise Forbidden(detail="Only an admin can change state or role.")
        changes, fields = [], []
        if encoded is not None:
            user.password, user.password_change_required = encoded, False
            changes.append("password")
            fields += ["password", "password_change_required"]
        if state is not None and state != user.state:
            user.state = UserState(state)
            changes.append("state")
            fields.append("state")
        if role is not None and role != user.role:
            user.role = Role(role)
            changes.append("role")
            fields.append("role")
        if email is not None and (changed := _email_change(user, email, by_owner=by_owner)):
            changes.append(changed[0])
            fields.extend(changed)
        if fields:
            _save(user, fields)
        tokens = None
        if encoded is not None:
            session_revoke_all(
                user=user, reason="password_changed", keep=actor_session if by_owner else None
            )
            if by_owner and actor_session is not None:
                tokens = session_renew(user=user, session_id=actor_session)
        if "state" in changes and user.state == UserState.DEACTIVATED:
            session_revoke_all(user=user, reason="deactivated")
        if event_type := _update_event(changes, user):
            announce(user, event_type, changes=changes)
    return user, tokens


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    user = _locked(user)
    user.state = UserState.DEACTIVATED
    _save(user, ["state"])
    session_revoke_all(user=user, reason="deactivated")
    announce(user, "user.deactivated")
    return user


@transaction.atomic
def user_set_role(*, user: User, role: Role) -> User:
    """For operators (manage.py create_admin): no actor check, the shell is the authority."""
    user = _locked(user)
    user.role = role
    _save(user, ["role"])
    return user


def user_verify(*, user_id: int, token: str) -> User:
    """Uses a verification link: confirms the email, or makes the pending email the login."""
    used = token_match(
        user_id=user_id,
        purposes=[TokenPurpose.VERIFY_EMAIL, TokenPurpose.EMAIL_CHANGE],
        presented=token,
    )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=used.user_id)
        if not user.is_active:
            raise InvalidOneTimeToken()
        token_use(used)
        event_type, fields = "user.verified", ["verified"]
        if used.purpose == TokenPurpose.EMAIL_CHANGE:
            if used.new_email != user.pending_email:
                raise InvalidOneTimeToken()
            user.email, user.pending_email = used.new_email, None
            event_type = "user.email_changed"
            fields += ["email", "pending_email"]
        user.verified = 1
        # A pending address another account took meanwhile: 409, and the token stays unused.
        _save(user, fields)
        announce(user, event_type)
    return user


@transaction.atomic
def verification_resend(*, user: User) -> None:
    """A fresh link for the pending address, or for the current one if it is unverified."""
    user = _locked(user)
    if user.pending_email:
        _pending_email_link(user, user.pending_email)
    elif not user.verified:
        _verification_start(user)


def _active_user(email: str) -> User | None:
    try:
        email = normalize_email(email)
    except MalformedEmail:
        return None
    return User.objects.filter(email=email, state=UserState.ACTIVE).first()


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
    try:
        email = normalize_email(email)
    except MalformedEmail:
        raise InvalidOneTimeToken() from None
    # One query whether or not the account exists, so a wrong code takes as long for both.
    used = token_match(email=email, purposes=[TokenPurpose.PASSWORD_RESET], presented=token)
    _check_password_rules(password, used.user)
    encoded = make_password(password)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=used.user_id)
        if not user.is_active:
            raise InvalidOneTimeToken()
        token_use(used)
        user.password, user.password_change_required = encoded, False
        _save(user, ["password", "password_change_required"])
        session_revoke_all(user=user, reason="password_reset")
        announce(user, "user.password_reset")
    return user
