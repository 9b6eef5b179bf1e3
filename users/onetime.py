"""Single-use tokens for email verification, email change and password reset.

32 random bytes, sent only by email; the database keeps an HMAC of them (keyed by the
server secret), compares in constant time, counts wrong guesses, and consumes a token
with one conditional UPDATE so that of two concurrent uses exactly one wins.
"""

import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from restapi.exceptions import ApiError
from users.models import OneTimeToken, TokenPurpose, User


class InvalidOneTimeToken(ApiError):
    default_code = "invalid_or_expired_token"
    default_detail = "This link or code is invalid or has expired."


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


def token_issue(*, user: User, purpose: str, new_email: str = "") -> str:
    """A new token for this purpose; the user's older ones of the same purpose stop working."""
    now = timezone.now()
    token_cancel(user=user, purpose=purpose)
    token = secrets.token_urlsafe(32)
    OneTimeToken.objects.create(
        user=user,
        purpose=purpose,
        token_hash=_hash(token),
        new_email=new_email,
        expires_at=now + lifetime(purpose),
    )
    return token


def _live(user_id: int, purposes: list[str]) -> list[OneTimeToken]:
    return list(
        OneTimeToken.objects.filter(
            user_id=user_id,
            purpose__in=purposes,
            used_at__isnull=True,
            cancelled_at__isnull=True,
            expires_at__gt=timezone.now(),
            wrong_attempts__lt=settings.USER_OTP_MAX_WRONG_ATTEMPTS,
        )
    )


def token_match(*, user_id: int, purposes: list[str], presented: str) -> OneTimeToken:
    """The live token the presented value matches, or the one generic 400.

    A wrong guess counts against every live token of these purposes (a token that has
    taken USER_OTP_MAX_WRONG_ATTEMPTS wrong guesses is dead). Call it outside a
    transaction that the 400 would roll back, so that the count sticks.
    """
    candidates = _live(user_id, purposes)
    presented_hash = _hash(presented)
    match = next((t for t in candidates if hmac.compare_digest(t.token_hash, presented_hash)), None)
    if match is None:
        OneTimeToken.objects.filter(pk__in=[t.pk for t in candidates]).update(
            wrong_attempts=F("wrong_attempts") + 1
        )
        raise InvalidOneTimeToken()
    return match


def token_use(token: OneTimeToken) -> None:
    """Consumes the token, inside the transaction that makes its change: one winner only."""
    used = OneTimeToken.objects.filter(
        pk=token.pk, used_at__isnull=True, cancelled_at__isnull=True, expires_at__gt=timezone.now()
    ).update(used_at=timezone.now())
    if used != 1:
        raise InvalidOneTimeToken()
