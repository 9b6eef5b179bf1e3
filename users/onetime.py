"""Single-use tokens for email verification, email change and password reset.

32 random bytes, sent only by email; the database keeps an HMAC of them (keyed by the
server secret) and compares in constant time. At most one token per user and purpose is
live (a partial unique index holds it). A token is consumed with one conditional UPDATE,
so that of two concurrent uses exactly one wins. Wrong guesses are bounded by the per-IP
buckets of the routes that take tokens, not by burning the user's token: a stranger who
knows an address cannot lock its owner out, and 256 random bits are not guessed.
"""

import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from restapi.exceptions import InvalidOneTimeToken
from users.models import OneTimeToken, TokenPurpose, User, UserState


def _hash(token: str) -> str:
    return salted_hmac("restapi.onetime:", token, algorithm="sha256").hexdigest()


def lifetime(purpose: str) -> timedelta:
    if purpose == TokenPurpose.PASSWORD_RESET:
        return timedelta(seconds=settings.USER_OTP_EXP_IN_SECONDS)
    return timedelta(seconds=settings.USER_EMAIL_VERIFICATION_EXP_IN_SECONDS)


def token_cancel(*, user: User, purpose: str) -> None:
    """The user's live tokens of this purpose stop working."""
    OneTimeToken.objects.filter(
        user=user, purpose=purpose, used_at__isnull=True, cancelled_at__isnull=True
    ).update(cancelled_at=timezone.now())


@transaction.atomic
def token_issue(*, user: User, purpose: str, new_email: str = "") -> str:
    """A new token for this purpose; the user's older ones of the same purpose stop working.

    Issues for one user are serialized by the lock on the user's row (held until the
    caller's transaction ends), so that of parallel issues each cancels the one before.
    """
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
    token_cancel(user=user, purpose=purpose)
    token = secrets.token_urlsafe(32)
    OneTimeToken.objects.create(
        user=user,
        purpose=purpose,
        token_hash=_hash(token),
        new_email=new_email,
        expires_at=timezone.now() + lifetime(purpose),
    )
    return token


def token_match(
    *, purposes: list[str], presented: str, user_id: int | None = None, email: str | None = None
) -> OneTimeToken:
    """The live token of the active user with this id or (normalised) email that the
    presented value matches, or the one generic 400.

    One query, whether or not the user exists or has a token, so that a wrong guess takes
    as long for a known account as for an unknown one.
    """
    live = OneTimeToken.objects.select_related("user").filter(
        purpose__in=purposes,
        used_at__isnull=True,
        cancelled_at__isnull=True,
        expires_at__gt=timezone.now(),
        user__state=UserState.ACTIVE,
    )
    live = live.filter(user_id=user_id) if user_id is not None else live.filter(user__email=email)
    presented_hash = _hash(presented)
    match = next((t for t in live if hmac.compare_digest(t.token_hash, presented_hash)), None)
    if match is None:
        raise InvalidOneTimeToken()
    return match


def token_use(token: OneTimeToken) -> None:
    """Consumes the token, inside the transaction that makes its change: one winner only."""
    used = OneTimeToken.objects.filter(
        pk=token.pk, used_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=timezone.now()
    ).update(used_at=timezone.now())
    if used != 1:
        raise InvalidOneTimeToken()
