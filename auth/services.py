"""Writes for authentication: logins, sessions and their tokens."""

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from auth.models import Session
from auth.ratelimit import (
    bucket_take,
    login_attempt_claim,
    login_attempt_failed,
    login_attempt_succeeded,
    login_attempt_unclaimed,
)
from auth.tokens import access_token_for
from restapi.exceptions import (
    EmailNotVerified,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidToken,
    Overloaded,
)
from restapi.metrics import SESSIONS_REVOKED, TOKENS_ISSUED
from users.models import MalformedEmail, User, UserState, normalize_email
from users.signals import announce


@dataclass(frozen=True)
class Tokens:
    token: str
    refresh: str


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
    user = User.objects.filter(email=key).first()
    try:
        if user is None:
            # Hash anyway so that an unknown email takes as long as a wrong password.
            User().set_password(password)
        # check_password rehashes (and saves) a hash made with other argon2 parameters.
        elif user.check_password(password) and user.is_active:
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


def user_login(
    *, email: str, password: str, client_ip: str, user_agent: str
) -> tuple[User, Tokens]:
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
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])
        tokens = session_start(user=user, client_ip=client_ip, user_agent=user_agent)
        announce(user, "user.logged_in", client_ip=client_ip)
    return user, tokens


def _refresh_mac(session: Session, generation: int) -> str:
    value = f"{session.pk}.{generation}.{session.salt}"
    return salted_hmac("restapi.refresh", value, algorithm="sha256").hexdigest()


def _tokens(session: Session, user: User) -> Tokens:
    refresh = f"{session.pk.hex}.{session.generation}.{_refresh_mac(session, session.generation)}"
    TOKENS_ISSUED.labels("access").inc()
    TOKENS_ISSUED.labels("refresh").inc()
    return Tokens(token=access_token_for(user, session_id=session.pk), refresh=refresh)


def _refresh_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=settings.TOKEN_REFRESH_EXPIRATION_SECONDS)


def session_start(*, user: User, client_ip: str, user_agent: str) -> Tokens:
    session = Session.objects.create(
        user=user,
        salt=secrets.token_hex(16),
        last_used_at=timezone.now(),
        expires_at=_refresh_expiry(),
        client_ip=client_ip or None,
        user_agent=user_agent[:256],
    )
    return _tokens(session, user)


def session_refresh(*, refresh: str) -> Tokens:
    """Rotates the refresh token. An already-rotated one, presented again after the grace
    window, is a stolen token being replayed: the whole session is revoked."""
    try:
        session_hex, generation_text, mac = refresh.split(".")
        session_id, generation = uuid.UUID(hex=session_hex), int(generation_text)
    except ValueError:
        raise InvalidToken() from None
    with transaction.atomic():
        session = (
            Session.objects.live()
            .select_for_update()
            .select_related("user")
            .filter(pk=session_id)
            .first()
        )
        if session is None or not hmac.compare_digest(mac, _refresh_mac(session, generation)):
            raise InvalidToken()
        if session.user.state != UserState.ACTIVE:
            raise InvalidToken()
        now = timezone.now()
        if generation == session.generation:
            session.generation += 1
            session.rotated_at = now
            session.expires_at = _refresh_expiry()
        elif not (
            generation == session.generation - 1
            and session.rotated_at is not None
            and now - session.rotated_at
            <= timedelta(seconds=settings.TOKEN_REFRESH_REUSE_GRACE_SECONDS)
        ):
            sessions_revoke(Session.objects.filter(pk=session.pk), reason="refresh_token_reuse")
            session = None
        if session is not None:
            session.last_used_at = now
            session.save(update_fields=["generation", "rotated_at", "expires_at", "last_used_at"])
            return _tokens(session, session.user)
    # Outside the transaction, so that the revocation above is committed.
    raise InvalidToken()


def sessions_revoke(sessions: QuerySet[Session], *, reason: str) -> int:
    """Revokes the active ones of these sessions; every revocation is counted here."""
    revoked = sessions.filter(revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    SESSIONS_REVOKED.labels(reason).inc(revoked)
    return revoked


def session_revoke(*, user: User, session_id: uuid.UUID, reason: str) -> bool:
    """Revokes one of the user's sessions; False when it is not theirs or not active."""
    return sessions_revoke(Session.objects.filter(pk=session_id, user=user), reason=reason) == 1


@transaction.atomic
def user_logout(*, user: User, session_id: uuid.UUID | None) -> bool:
    """Ends one session (or, without an id, all of them); False if it was not the user's."""
    if session_id is None:
        session_revoke_all(user=user, reason="logout_all")
    elif not session_revoke(user=user, session_id=session_id, reason="logout"):
        return False
    announce(user, "user.logged_out", session_id=str(session_id) if session_id else None)
    return True


def session_revoke_all(*, user: User, reason: str, keep: uuid.UUID | None = None) -> int:
    sessions = Session.objects.filter(user=user)
    if keep is not None:
        sessions = sessions.exclude(pk=keep)
    return sessions_revoke(sessions, reason=reason)


@transaction.atomic
def session_renew(*, user: User, session_id: uuid.UUID) -> Tokens:
    """Fresh tokens for a live session, the refresh token rotated (after a password change).

    A session revoked meanwhile (logout, deactivation) gets none: 401."""
    session = Session.objects.live().select_for_update().filter(pk=session_id, user=user).first()
    if session is None:
        raise InvalidAccessToken()
    session.generation += 1
    session.rotated_at = session.last_used_at = timezone.now()
    session.save(update_fields=["generation", "rotated_at", "last_used_at"])
    return _tokens(session, user)
