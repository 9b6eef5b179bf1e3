"""Writes on second factors. Every code check goes through second_factor_check: the
account's backoff (auth.ratelimit, the one wrong passwords feed) takes the attempt
before any code is evaluated, so parallel guesses cannot outrun it."""

import hashlib
import hmac
import io
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import segno
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from auth.ratelimit import (
    login_attempt_claim,
    login_attempt_failed,
    login_attempt_succeeded,
)
from auth.services import session_revoke_all
from mfa import crypto, passkeys
from mfa.metrics import SECOND_FACTORS
from mfa.models import Challenge, ChallengePurpose, Passkey, RecoveryCode, Totp
from mfa.selectors import has_factor
from restapi.exceptions import (
    InvalidMfaCode,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaTokenInvalid,
    StepUpRequired,
)
from restapi.purge import delete_in_batches
from restapi.signals import announce

TOTP_INTERVAL = 30
TOTP_DIGITS = 6
# Clock drift allowed, in steps either side: an authenticator a little fast or slow.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# 16 base32 characters: 80 bits, shown as four groups of four.
RECOVERY_CODE_LENGTH = 16


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL, digest=hashlib.sha1)


def _matched_step(secret: str, code: str, now: float) -> int | None:
    """The time step (within the drift) whose code this is; every candidate is compared,
    in constant time, whether or not an earlier one matched."""
    totp = _totp(secret)
    base = int(now) // TOTP_INTERVAL
    found = None
    for offset in range(-TOTP_DRIFT_STEPS, TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(base + offset).encode(), code.encode()):
            found = base + offset
    return found


def _qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=4, xmldecl=False)
    return out.getvalue().decode()


@transaction.atomic
def totp_enrol(*, user: AbstractBaseUser, auth_time: int | None) -> TotpEnrolment:
    """A new secret, pending until totp_confirm; a pending one is replaced. Adding a factor
    needs a recent authentication, as removing one does: else a stolen refresh token could
    set one up and lock the owner out."""
    recent_authentication_check(auth_time=auth_time)
    current = Totp.objects.select_for_update().filter(user_id=user.pk).first()
    if current is not None and current.confirmed_at is not None:
        raise MfaAlreadyEnabled()
    secret = pyotp.random_base32()
    Totp.objects.update_or_create(
        user_id=user.pk,
        defaults={"secret": crypto.encrypt(secret), "confirmed_at": None, "last_used_step": None},
    )
    uri = _totp(secret).provisioning_uri(name=user.get_username(), issuer_name=settings.MFA_ISSUER)
    return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=_qr_svg(uri))


def _code_hash(user: AbstractBaseUser, code: str) -> str:
    normalized = code.replace("-", "").replace(" ", "").upper()
    return salted_hmac(
        "restapi.recovery", f"{user.pk}:{normalized}", algorithm="sha256"
    ).hexdigest()


def _recovery_codes_replace(user: AbstractBaseUser) -> list[str]:
    """Ten new codes, shown once; the old ones stop working."""
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    codes = [
        "".join(secrets.choice(alphabet) for _ in range(RECOVERY_CODE_LENGTH))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user_id=user.pk, code_hash=_code_hash(user, code)) for code in codes
    )
    return ["-".join(code[i : i + 4] for i in range(0, len(code), 4)) for code in codes]


def _totp_code_accept(user: AbstractBaseUser, code: str, *, confirming: bool) -> bool:
    """Whether the code is right and new: accepted once, never one of an earlier step."""
    with transaction.atomic():
        totp = Totp.objects.select_for_update().filter(user_id=user.pk).first()
        if totp is None or (totp.confirmed_at is None) != confirming:
            return False
        step = _matched_step(crypto.decrypt(totp.secret), code, time.time())
        if step is None or (totp.last_used_step is not None and step <= totp.last_used_step):
            return False
        totp.last_used_step = step
        fields = ["last_used_step"]
        if confirming:
            totp.confirmed_at = timezone.now()
            fields.append("confirmed_at")
        totp.save(update_fields=fields)
    return True


def _recovery_code_accept(user: AbstractBaseUser, code: str) -> bool:
    """One statement: of parallel requests with one code, exactly one uses it."""
    used = RecoveryCode.objects.filter(
        user_id=user.pk, code_hash=_code_hash(user, code), used_at=None
    ).update(used_at=timezone.now())
    return used == 1


def second_factor_check(
    *, user: AbstractBaseUser, method: str, check: Callable[[], bool], on_failure: type[Exception]
) -> None:
    """Runs one code check under the account's backoff. A wrong code counts as a wrong
    password would, and is announced (user.login_mfa_failed)."""
    key = user.get_username()
    login_attempt_claim(email=key)
    if check():
        login_attempt_succeeded(email=key)
        SECOND_FACTORS.labels(method, "success").inc()
        if method == "recovery_code":
            announce(user, "user.mfa_recovery_used")
        return
    SECOND_FACTORS.labels(method, "failure").inc()
    with transaction.atomic():
        login_attempt_failed(email=key)
        announce(user, "user.login_mfa_failed", method=method)
    raise on_failure()


def code_check(
    *,
    user: AbstractBaseUser,
    code: str | None,
    recovery_code: str | None,
    on_failure: type[Exception] = InvalidMfaCode,
) -> str:
    """A TOTP code or a recovery code, whichever is given; the method it was."""
    if code is not None:
        second_factor_check(
            user=user,
            method="totp",
            check=lambda: _totp_code_accept(user, code, confirming=False),
            on_failure=on_failure,
        )
        return "totp"
    if recovery_code is None:  # the input serializers require one of the two
        raise on_failure()
    second_factor_check(
        user=user,
        method="recovery_code",
        check=lambda: _recovery_code_accept(user, recovery_code),
        on_failure=on_failure,
    )
    return "recovery_code"


def totp_confirm(*, user: AbstractBaseUser, code: str) -> list[str]:
    """Activates the pending secret with its first code; the ten recovery codes."""
    if not Totp.objects.filter(user_id=user.pk, confirmed_at=None).exists():
        raise MfaNotEnabled(detail="Start the enrolment first: POST /user/mfa/totp.")
    second_factor_check(
        user=user,
        method="totp",
        check=lambda: _totp_code_accept(user, code, confirming=True),
        on_failure=InvalidMfaCode,
    )
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
        announce(user, "user.mfa_enabled", method="totp")
    return codes


def recent_authentication_check(*, auth_time: int | None) -> None:
    """An authentication (the access token's auth_time, which a refresh keeps) not older
    than MFA_STEP_UP_SECONDS, for any user: what reads or ends everything (an export, an
    erasure) needs it, so a stolen refresh token cannot do it."""
    if auth_time is None or time.time() - auth_time > settings.MFA_STEP_UP_SECONDS:
        raise StepUpRequired()


def step_up_check(*, user: AbstractBaseUser, auth_time: int | None) -> None:
    """For a user with a second factor, a sensitive change needs a recent authentication."""
    if has_factor(user=user):
        recent_authentication_check(auth_time=auth_time)


def totp_disable(
    *,
    user: AbstractBaseUser,
    auth_time: int | None,
    session_id: uuid.UUID,
    code: str | None,
    recovery_code: str | None,
) -> None:
    """Needs a recent authentication and a current code; every other session is revoked."""
    if not Totp.objects.filter(user_id=user.pk, confirmed_at__isnull=False).exists():
        raise MfaNotEnabled()
    recent_authentication_check(auth_time=auth_time)
    code_check(user=user, code=code, recovery_code=recovery_code)
    with transaction.atomic():
        Totp.objects.filter(user_id=user.pk).delete()
        if not Passkey.objects.filter(user_id=user.pk).exists():
            RecoveryCode.objects.filter(user_id=user.pk).delete()
        session_revoke_all(user=user, reason="mfa_disabled", keep=session_id)
        announce(user, "user.mfa_disabled", method="totp")


def recovery_codes_regenerate(*, user: AbstractBaseUser, auth_time: int | None) -> list[str]:
    if not has_factor(user=user):
        raise MfaNotEnabled()
    recent_authentication_check(auth_time=auth_time)
    with transaction.atomic():
        return _recovery_codes_replace(user)


@transaction.atomic
def factors_reset(*, user: AbstractBaseUser) -> None:
    """An operator's reset (the admin, manage.py mfa_reset): every factor goes, every
    session is revoked; the user logs in with the password alone and enrols again."""
    Totp.objects.filter(user_id=user.pk).delete()
    RecoveryCode.objects.filter(user_id=user.pk).delete()
    Passkey.objects.filter(user_id=user.pk).delete()
    session_revoke_all(user=user, reason="mfa_reset")
    announce(user, "user.mfa_disabled", method="all")


def totp_secrets_rotate() -> int:
    """Re-encrypts every TOTP secret under the first of MFA_ENCRYPTION_KEYS (the secrets
    themselves do not change); how many rows."""
    rotated = 0
    for totp in Totp.objects.only("pk", "secret").iterator(chunk_size=1000):
        Totp.objects.filter(pk=totp.pk, secret=totp.secret).update(
            secret=crypto.rotate(totp.secret)
        )
        rotated += 1
    return rotated


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def challenge_issue(
    *,
    user: AbstractBaseUser | None,
    purpose: ChallengePurpose,
    webauthn_challenge: bytes | None = None,
) -> str:
    """A one-use token, `{id}.{secret}`, valid MFA_TOKEN_TTL_SECONDS."""
    secret = secrets.token_urlsafe(32)
    challenge = Challenge.objects.create(
        user_id=None if user is None else user.pk,
        purpose=purpose,
        secret_hash=_secret_hash(secret),
        webauthn_challenge=webauthn_challenge,
        expires_at=timezone.now() + timedelta(seconds=settings.MFA_TOKEN_TTL_SECONDS),
    )
    return f"{challenge.pk.hex}.{secret}"


def challenge_get(*, token: str, purpose: ChallengePurpose) -> Challenge:
    """The live challenge this token names; one 401 for malformed, wrong, used or expired."""
    challenge_hex, _, secret = token.partition(".")
    try:
        challenge_id = uuid.UUID(hex=challenge_hex)
    except ValueError:
        raise MfaTokenInvalid() from None
    challenge = (
        Challenge.objects.select_related("user")
        .filter(pk=challenge_id, purpose=purpose, used_at=None, expires_at__gt=timezone.now())
        .first()
    )
    if challenge is None or not hmac.compare_digest(challenge.secret_hash, _secret_hash(secret)):
        raise MfaTokenInvalid()
    return challenge


def challenge_use(*, challenge: Challenge) -> None:
    """Marks it used: of parallel requests with one token, the second is the same 401."""
    used = Challenge.objects.filter(pk=challenge.pk, used_at=None).update(used_at=timezone.now())
    if used != 1:
        raise MfaTokenInvalid()


def passkey_registration_start(
    *, user: AbstractBaseUser, auth_time: int | None
) -> tuple[str, dict[str, Any]]:
    """The token naming the ceremony's challenge, and the options for the browser. Needs a
    recent authentication: a passkey is a login of its own, which outlives a password
    change and a logout of every session. The challenge binds the ceremony to this user
    for at most MFA_TOKEN_TTL_SECONDS."""
    recent_authentication_check(auth_time=auth_time)
    challenge, options = passkeys.registration_options(user=user)
    token = challenge_issue(
        user=user, purpose=ChallengePurpose.PASSKEY_REGISTER, webauthn_challenge=challenge
    )
    return token, options


def passkey_register(
    *, user: AbstractBaseUser, challenge_token: str, credential: dict[str, Any], name: str
) -> Passkey:
    """Stores the passkey the browser made for this ceremony (its challenge used once)."""
    challenge = challenge_get(token=challenge_token, purpose=ChallengePurpose.PASSKEY_REGISTER)
    if challenge.user_id != user.pk:
        raise MfaTokenInvalid()
    challenge_use(challenge=challenge)
    with transaction.atomic():
        passkey = passkeys.registration_verify(
            user=user,
            expected_challenge=bytes(challenge.webauthn_challenge or b""),
            credential=credential,
            name=name,
        )
        if passkey is None:
            raise InvalidMfaCode(detail="The passkey could not be verified.")
        announce(user, "user.passkey_added", passkey_id=passkey.pk, name=passkey.name)
    return passkey


def passkey_rename(*, passkey: Passkey, name: str) -> Passkey:
    passkey.name = name
    passkey.save(update_fields=["name"])
    return passkey


def passkey_delete(*, user: AbstractBaseUser, passkey: Passkey, auth_time: int | None) -> None:
    """Removing a factor needs a recent authentication; with the last factor go the
    recovery codes."""
    recent_authentication_check(auth_time=auth_time)  # a passkey: a factor, certainly
    passkey_id = passkey.pk  # delete() forgets it
    with transaction.atomic():
        passkey.delete()
        if not has_factor(user=user):
            RecoveryCode.objects.filter(user_id=user.pk).delete()
        announce(user, "user.passkey_removed", passkey_id=passkey_id, name=passkey.name)


def challenges_spent_purge() -> Iterator[int]:
    """Deletes the challenges that can no longer be used (purge_expired): a login's
    mfa_token and every WebAuthn ceremony leave one, used or expired within minutes."""
    spent = Challenge.objects.filter(Q(used_at__isnull=False) | Q(expires_at__lte=timezone.now()))
    return delete_in_batches(spent)
