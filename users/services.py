"""Writes on users. Functions take keyword arguments only; each change is one transaction.

A write locks the user's row, decides on the copy it reads then (not on the one loaded
when the request authenticated) and saves only the fields it changes, so two writes on
one user never undo each other. Password hashing, which takes tens of milliseconds, runs
before the lock.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from auth.ratelimit import (
    bucket_take,
    login_attempt_claim,
    login_attempt_failed,
    login_attempt_succeeded,
    login_attempt_unclaimed,
)
from auth.services import Tokens, session_renew, session_revoke_all, session_start
from mfa import passkeys
from mfa import selectors as mfa_selectors
from mfa import services as mfa_services
from mfa.models import ChallengePurpose
from restapi import background
from restapi.exceptions import (
    EmailNotVerified,
    EmailTaken,
    Forbidden,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidOneTimeToken,
    MfaFailed,
    MfaTokenInvalid,
    NotFound,
    Overloaded,
)
from restapi.purge import delete_in_batches
from restapi.signals import announce
from users import emails
from users.models import (
    MalformedEmail,
    OneTimeToken,
    Role,
    TokenPurpose,
    User,
    UserState,
    normalize_email,
)
from users.onetime import token_cancel, token_issue, token_match, token_use
from users.selectors import user_get_by_email


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


def _taken_by_another(email: str, user: User) -> bool:
    holder = user_get_by_email(email=email)
    return holder is not None and holder.pk != user.pk


def _verification_start(user: User) -> None:
    token = token_issue(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
    emails.send_verification(user=user, to=user.email, token=token)


def _pending_email_link(user: User, email: str) -> None:
    """The link that makes `email` the user's login. If another account has that address,
    its owner gets a notice instead and no link goes out; the token is made either way,
    so the requester cannot tell the two apart (and verifying refuses a taken address)."""
    token = token_issue(user=user, purpose=TokenPurpose.EMAIL_CHANGE, new_email=email)
    if _taken_by_another(email, user):
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


def password_check(*, email: str, password: str, client_ip: str) -> User:
    """The active user with this email and password. Every password check goes through
    here: the API's login, the Django admin's (its form and the authentication backend),
    a `current_password`.

    Before any hashing, the client IP's login bucket and the account's backoff take the
    attempt; the backoff counts it as a failure at once (so parallel guesses cannot
    outrun it) and a success clears it. Raises RateLimited (429), or InvalidCredentials
    (401) for every kind of failure, after the same work: one argon2 computation and one
    write transaction, which holds the `user.login_failed` event when the account exists.
    """
    if len(password) > settings.PASSWORD_MAX_LENGTH:
        raise InvalidCredentials()  # no account has such a password: nothing to hash
    bucket_take(action="login", key=client_ip)
    try:
        key = normalize_email(email)
    except MalformedEmail:
        # Just another failure: no account has an address mail cannot reach.
        key = email.strip().lower()
    login_attempt_claim(email=key)
    user = user_get_by_email(email=key)
    try:
        if user is None:
            # Hash anyway so that an unknown email takes as long as a wrong password.
            User().set_password(password)
        # check_password rehashes (and saves) a hash made with other argon2 parameters.
        elif user.check_password(password) and user.is_active:
            if mfa_selectors.has_factor(user=user):
                # Half a login: only the second factor ends the account's run of failures,
                # or the password would buy a guesser fresh code attempts every time.
                login_attempt_unclaimed(email=key)
            else:
                login_attempt_succeeded(email=key)
            return user
    except Overloaded:
        login_attempt_unclaimed(email=key)
        raise
    with transaction.atomic():
        login_attempt_failed(email=key)
        # The event of a known account commits with the failure. An unknown one has none,
        # but writes a stand-in and rolls it back (as it hashes a stand-in password
        # above): the same statements, so the same time, either way.
        savepoint = transaction.savepoint()
        announce(user or User(pk=0, email=key), "user.login_failed")
        if user is None:
            transaction.savepoint_rollback(savepoint)
        else:
            transaction.savepoint_commit(savepoint)
    # The event does not wake the publisher (kafka_events.outbox.QUIET_EVENT_TYPES): its
    # work would slow this answer for known accounts only.
    raise InvalidCredentials()


@dataclass(frozen=True)
class SecondFactorNeeded:
    """A right password for a user with a second factor: POST /login/mfa completes it."""

    mfa_token: str
    methods: list[str]
    # WebAuthn request options for the user's passkeys, when they have one.
    webauthn: dict[str, Any] | None


# RFC 8176's names for how a session was authenticated.
AMR = {"totp": "otp", "recovery_code": "otp", "webauthn": "hwk"}


def _session_for(user: User, *, client_ip: str, user_agent: str, amr: list[str]) -> Tokens:
    """The login's session, on the locked row. An admin without a second factor gets a
    user's session while MFA_REQUIRED_FOR_ADMINS=1: admin tokens need one."""
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    limited = settings.MFA_REQUIRED_FOR_ADMINS and user.is_admin and "mfa" not in amr
    tokens = session_start(
        user=user,
        client_ip=client_ip,
        user_agent=user_agent,
        amr=amr,
        role_limit=Role.USER if limited else "",
    )
    announce(user, "user.logged_in", client_ip=client_ip)
    return tokens


def user_login(
    *, email: str, password: str, client_ip: str, user_agent: str
) -> tuple[User, Tokens | SecondFactorNeeded]:
    """Tokens, or (for a user with a second factor) what the second step needs."""
    checked = password_check(email=email, password=password, client_ip=client_ip)
    with transaction.atomic():
        # The row as it is now, locked: a deactivation since the check wins, and the
        # token carries the current role.
        user = User.objects.select_for_update().filter(pk=checked.pk).first()
        if user is None or not user.is_active:
            raise InvalidCredentials()
        if settings.USER_EMAIL_VERIFICATION_REQUIRED and not user.verified:
            # Only after a correct password, so this reveals nothing to a guesser.
            raise EmailNotVerified()
        if methods := mfa_selectors.methods_of(user=user):
            webauthn_challenge, webauthn = None, None
            if "webauthn" in methods:
                webauthn_challenge, webauthn = passkeys.authentication_options(user=user)
            mfa_token = mfa_services.challenge_issue(
                user=user, purpose=ChallengePurpose.LOGIN, webauthn_challenge=webauthn_challenge
            )
            return user, SecondFactorNeeded(mfa_token=mfa_token, methods=methods, webauthn=webauthn)
        tokens = _session_for(user, client_ip=client_ip, user_agent=user_agent, amr=["pwd"])
    return user, tokens


def user_login_mfa(
    *,
    mfa_token: str,
    client_ip: str,
    user_agent: str,
    code: str | None = None,
    recovery_code: str | None = None,
    webauthn: dict[str, Any] | None = None,
) -> tuple[User, Tokens]:
    """The second step of a login: a code, a recovery code or a passkey's assertion for
    the mfa_token of a right password. The token is used once; wrong codes count toward
    the account's backoff as wrong passwords do."""
    bucket_take(action="login", key=client_ip)
    challenge = mfa_services.challenge_get(token=mfa_token, purpose=ChallengePurpose.LOGIN)
    user = challenge.user
    if user is None:  # a login's challenge always has its user
        raise MfaTokenInvalid()
    if webauthn is not None:
        expected = bytes(challenge.webauthn_challenge or b"")
        method = "webauthn"
        mfa_services.second_factor_check(
            user=user,
            method=method,
            check=lambda: (
                passkeys.assertion_accept(
                    user=user, expected_challenge=expected, credential=webauthn
                )
                is not None
            ),
            on_failure=MfaFailed,
        )
    else:
        method = mfa_services.code_check(
            user=user, code=code, recovery_code=recovery_code, on_failure=MfaFailed
        )
    mfa_services.challenge_use(challenge=challenge)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user.pk).first()
        if user is None or not user.is_active:
            raise InvalidCredentials()
        amr = ["pwd", AMR[method], "mfa"]
        return user, _session_for(user, client_ip=client_ip, user_agent=user_agent, amr=amr)


def passkey_login_enabled() -> None:
    """Off (MFA_PASSKEY_LOGIN=0), the passwordless routes answer as unknown ones do."""
    if not settings.MFA_PASSKEY_LOGIN:
        raise NotFound()


def passkey_login_start(*, client_ip: str) -> tuple[str, dict[str, Any]]:
    """A passwordless login's first step: the token naming its challenge, and request
    options for any of the site's passkeys (a discoverable credential, user-verified).
    The client's login bucket pays for it, as each challenge is a row."""
    passkey_login_enabled()
    bucket_take(action="login", key=client_ip)
    webauthn_challenge, options = passkeys.authentication_options(user=None)
    token = mfa_services.challenge_issue(
        user=None, purpose=ChallengePurpose.PASSKEY_LOGIN, webauthn_challenge=webauthn_challenge
    )
    return token, options


def user_login_passkey(
    *, challenge_token: str, credential: dict[str, Any], client_ip: str, user_agent: str
) -> tuple[User, Tokens]:
    """A passwordless login: a user-verified passkey's assertion is both factors (the
    device and its PIN or biometric). The challenge is used before the assertion is
    checked, so each one allows one try; a refused assertion of a known passkey counts
    toward its owner's backoff as a wrong code does."""
    passkey_login_enabled()
    bucket_take(action="login", key=client_ip)
    challenge = mfa_services.challenge_get(
        token=challenge_token, purpose=ChallengePurpose.PASSKEY_LOGIN
    )
    mfa_services.challenge_use(challenge=challenge)
    owner_id = passkeys.credential_owner_id(credential)
    owner = None if owner_id is None else User.objects.filter(pk=owner_id).first()
    if owner is None:  # no such passkey: nobody's backoff to count it in
        raise MfaFailed()
    expected = bytes(challenge.webauthn_challenge or b"")
    mfa_services.second_factor_check(
        user=owner,
        method="webauthn",
        check=lambda: (
            passkeys.assertion_accept(user=None, expected_challenge=expected, credential=credential)
            is not None
        ),
        on_failure=MfaFailed,
    )
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=owner.pk).first()
        if user is None or not user.is_active:
            raise InvalidCredentials()
        if settings.USER_EMAIL_VERIFICATION_REQUIRED and not user.verified:
            raise EmailNotVerified()
        amr = [AMR["webauthn"], "user", "mfa"]
        return user, _session_for(user, client_ip=client_ip, user_agent=user_agent, amr=amr)


def user_register(
    *, email: str, password: str, client_ip: str, user_agent: str
) -> tuple[User, Tokens | None]:
    """A new account, and its first session's tokens unless it must verify its email first."""
    with transaction.atomic():
        user = user_create(email=email, password=password)
        if settings.USER_EMAIL_VERIFICATION_REQUIRED:
            return user, None
        return user, session_start(user=user, client_ip=client_ip, user_agent=user_agent)


def current_password_check(
    *, user: User, current_password: str | None, client_ip: str, doing: str
) -> None:
    """The user's own password, given again for a sensitive change (a 400 if it is not
    given or wrong; checked, and throttled, as a login is)."""
    message = {"current_password": [f"Give your current password to {doing}."]}
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
    if _taken_by_another(email, user):
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
    auth_time: int | None = None,
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
        mfa_services.step_up_check(user=user, auth_time=auth_time)
        current_password_check(
            user=user,
            current_password=current_password,
            client_ip=client_ip,
            doing="change email or password",
        )
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
        if state is not None and _state_set(user, UserState(state)):
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
        if event_type := _update_event(changes, user):
            announce(user, event_type, changes=changes)
    return user, tokens


def _state_set(user: User, state: UserState) -> bool:
    """Every change of a user's state goes through here (on the locked row, saved by the
    caller): a deactivation revokes every session at once. False when it was so already."""
    if state == user.state:
        return False
    user.state = state
    if state == UserState.DEACTIVATED:
        session_revoke_all(user=user, reason="deactivated")
    return True


def user_deactivate(*, actor: User, user: User, auth_time: int | None = None) -> User:
    """DELETE /user: the owner's (with a recent authentication, if they have a second
    factor) or an admin's soft delete."""
    if actor.pk == user.pk:
        mfa_services.step_up_check(user=user, auth_time=auth_time)
    return user_deactivate_unchecked(user=user)


@transaction.atomic
def user_deactivate_unchecked(*, user: User) -> User:
    """No actor check: for callers that made their own (an erasure's request). Deactivated
    already: no write and no event."""
    user = _locked(user)
    if _state_set(user, UserState.DEACTIVATED):
        _save(user, ["state"])
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
        user = user_get_by_email(email=normalize_email(email))
    except MalformedEmail:
        return None
    return user if user is not None and user.is_active else None


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


def one_time_tokens_spent_purge() -> Iterator[int]:
    """Deletes one-time tokens that can no longer be used (batch counts, as they go)."""
    now = timezone.now()
    return delete_in_batches(
        OneTimeToken.objects.filter(
            Q(used_at__isnull=False) | Q(cancelled_at__isnull=False) | Q(expires_at__lte=now)
        )
    )
