"""Writes on sessions and their tokens. The account side of a login (the password check,
the user's state) is the users app's: this one knows a user only as its sessions' owner."""

import hmac
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from auth.metrics import SESSIONS_REVOKED, TOKENS_ISSUED
from auth.models import LoginThrottle, RateBucket, Session
from auth.ratelimit import account_key
from auth.tokens import TokenSubject, access_token_for
from restapi.exceptions import InvalidAccessToken, InvalidToken
from restapi.purge import delete_in_batches
from restapi.signals import announce, audit


@dataclass(frozen=True)
class Tokens:
    token: str
    refresh: str


def _refresh_mac(session: Session, generation: int) -> str:
    value = f"{session.pk}.{generation}.{session.salt}"
    return salted_hmac("restapi.refresh", value, algorithm="sha256").hexdigest()


def _tokens(session: Session, user: TokenSubject) -> Tokens:
    refresh = f"{session.pk.hex}.{session.generation}.{_refresh_mac(session, session.generation)}"
    TOKENS_ISSUED.labels("access").inc()
    TOKENS_ISSUED.labels("refresh").inc()
    token = access_token_for(
        user,
        role=session.role_limit or user.role,
        session_id=session.pk,
        amr=session.amr,
        auth_time=int(session.auth_time.timestamp()) if session.auth_time else None,
    )
    return Tokens(token=token, refresh=refresh)


def _refresh_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=settings.TOKEN_REFRESH_EXPIRATION_SECONDS)


def session_start(
    *,
    user: TokenSubject,
    client_ip: str,
    user_agent: str,
    amr: list[str] | None = None,
    role_limit: str = "",
) -> Tokens:
    """A new session, authenticated now by `amr` (a password, by default)."""
    now = timezone.now()
    session = Session.objects.create(
        user_id=user.pk,
        amr=amr or ["pwd"],
        auth_time=now,
        role_limit=role_limit,
        salt=secrets.token_hex(16),
        last_used_at=now,
        expires_at=_refresh_expiry(),
        client_ip=client_ip or None,
        user_agent=user_agent,
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
        if not session.user.is_active:
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


# Revocations that are no part of an announced change (a logout, a password change, a
# deactivation...): each revoked session is audited on its own, as "session.revoked".
AUDITED_REVOCATIONS = {"admin", "refresh_token_reuse"}


def sessions_revoke(sessions: QuerySet[Session], *, reason: str) -> int:
    """Revokes the active ones of these sessions; every revocation is counted here."""
    active = sessions.filter(revoked_at__isnull=True)
    if reason not in AUDITED_REVOCATIONS:
        revoked = active.update(revoked_at=timezone.now(), revoked_reason=reason)
    else:
        with transaction.atomic():
            # Locked, so that each session revoked here is audited once.
            ended = list(active.select_for_update().values_list("pk", "user_id"))
            revoked = Session.objects.filter(pk__in=[pk for pk, _ in ended]).update(
                revoked_at=timezone.now(), revoked_reason=reason
            )
            for session_id, user_id in ended:
                audit(user_id, "session.revoked", session_id=str(session_id), reason=reason)
    SESSIONS_REVOKED.labels(reason).inc(revoked)
    return revoked


def session_revoke_all(
    *, user: AbstractBaseUser, reason: str, keep: uuid.UUID | None = None
) -> int:
    sessions = Session.objects.filter(user_id=user.pk)
    if keep is not None:
        sessions = sessions.exclude(pk=keep)
    return sessions_revoke(sessions, reason=reason)


@transaction.atomic
def user_logout(*, user: AbstractBaseUser, session_id: uuid.UUID | None) -> None:
    """Ends one of the user's sessions or, without an id, all of them."""
    if session_id is None:
        session_revoke_all(user=user, reason="logout_all")
    else:
        sessions_revoke(Session.objects.filter(pk=session_id, user_id=user.pk), reason="logout")
    announce(user, "user.logged_out", session_id=str(session_id) if session_id else None)


@transaction.atomic
def session_renew(*, user: TokenSubject, session_id: uuid.UUID) -> Tokens:
    """Fresh tokens for a live session, the refresh token rotated (after a password change).

    A session revoked meanwhile (logout, deactivation) gets none: 401."""
    session = (
        Session.objects.live().select_for_update().filter(pk=session_id, user_id=user.pk).first()
    )
    if session is None:
        raise InvalidAccessToken()
    session.generation += 1
    session.rotated_at = session.last_used_at = timezone.now()
    session.save(update_fields=["generation", "rotated_at", "last_used_at"])
    return _tokens(session, user)


def sessions_ended_purge(*, ended_before: datetime) -> Iterator[int]:
    """Deletes sessions revoked or expired before then (batch counts, as they go)."""
    return delete_in_batches(
        Session.objects.filter(Q(revoked_at__lt=ended_before) | Q(expires_at__lt=ended_before))
    )


def login_counters_idle_purge(*, idle_since: float) -> Iterator[int]:
    return delete_in_batches(LoginThrottle.objects.filter(next_attempt_at__lt=idle_since))


def rate_buckets_idle_purge(*, idle_since: float) -> Iterator[int]:
    return delete_in_batches(RateBucket.objects.filter(updated_at__lt=idle_since))


# The rate limits counted per account (settings.RATE_LIMITS), keyed by the user's id.
ACCOUNT_RATE_LIMITS = ("email_change_account", "export_account")


def account_counters_forget(*, user_id: int, emails: list[str]) -> None:
    """An erasure: the brute-force counters of the user's addresses and their per-account
    rate buckets go with them."""
    LoginThrottle.objects.filter(key__in=[account_key(email) for email in emails]).delete()
    RateBucket.objects.filter(key__in=[f"{a}:{user_id}" for a in ACCOUNT_RATE_LIMITS]).delete()
