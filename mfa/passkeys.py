"""Passkeys (WebAuthn, py_webauthn): registration and assertion checks. The relying
party is WEBAUTHN_RP_ID, and a browser may sign for WEBAUTHN_ORIGINS only. A challenge is
kept server-side (mfa.models.Challenge) and used once."""

import json
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, options_to_json_dict
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from mfa.models import Passkey


def user_handle(user_id: int) -> bytes:
    """The user's WebAuthn id: stable and opaque (neither the id nor the email), so an
    authenticator learns nothing about the account from it; no column needed."""
    return salted_hmac("restapi.webauthn-user", str(user_id), algorithm="sha256").digest()


def _descriptors(user: AbstractBaseUser) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=bytes(passkey.credential_id),
            transports=[AuthenticatorTransport(t) for t in passkey.transports],
        )
        for passkey in Passkey.objects.filter(user_id=user.pk)
    ]


def registration_options(*, user: AbstractBaseUser) -> tuple[bytes, dict[str, Any]]:
    """The challenge to keep and the options for navigator.credentials.create()."""
    options = generate_registration_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        rp_name=settings.WEBAUTHN_RP_NAME,
        user_id=user_handle(user.pk),
        user_name=user.get_username(),
        exclude_credentials=_descriptors(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
    )
    return options.challenge, options_to_json_dict(options)


def registration_verify(
    *, user: AbstractBaseUser, expected_challenge: bytes, credential: dict[str, Any], name: str
) -> Passkey | None:
    """The new passkey, or None when the browser's answer does not verify (another
    origin, another challenge, a malformed credential) or the credential is known."""
    try:
        verified = verify_registration_response(
            credential=json.dumps(credential),
            expected_challenge=expected_challenge,
            expected_rp_id=settings.WEBAUTHN_RP_ID,
            expected_origin=settings.WEBAUTHN_ORIGINS,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        return None
    transports = credential.get("response", {}).get("transports") or []
    known = {t.value for t in AuthenticatorTransport}
    with transaction.atomic():
        if Passkey.objects.filter(credential_id=verified.credential_id).exists():
            return None
        return Passkey.objects.create(
            user_id=user.pk,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=[t for t in transports if isinstance(t, str) and t in known],
            name=name,
        )


def authentication_options(*, user: AbstractBaseUser | None) -> tuple[bytes, dict[str, Any]]:
    """The challenge to keep and the options for navigator.credentials.get(): for the
    user's passkeys, or (no user: a passwordless login) for any, with user verification."""
    options = generate_authentication_options(
        rp_id=settings.WEBAUTHN_RP_ID,
        allow_credentials=[] if user is None else _descriptors(user),
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if user is None
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return options.challenge, options_to_json_dict(options)


def credential_owner_id(credential: dict[str, Any]) -> int | None:
    """The id of the user whose passkey the credential names (by its rawId), if any; what
    it claims is not checked here."""
    try:
        raw_id = base64url_to_bytes(str(credential["rawId"]))
    except (KeyError, ValueError, TypeError):
        return None
    found = Passkey.objects.filter(credential_id=raw_id).values_list("user_id", flat=True)
    return found.first()


def assertion_accept(
    *, user: AbstractBaseUser | None, expected_challenge: bytes, credential: dict[str, Any]
) -> Passkey | None:
    """The passkey that signed this challenge, its counter moved on; None if refused: an
    unknown credential or another user's, another origin or challenge, a bad signature,
    or a sign counter that did not grow (a cloned authenticator). Without a user (a
    passwordless login) the credential names its owner, and must be user-verified."""
    try:
        raw_id = base64url_to_bytes(str(credential["rawId"]))
    except (KeyError, ValueError, TypeError):
        return None
    with transaction.atomic():
        passkey = Passkey.objects.select_for_update().filter(credential_id=raw_id).first()
        if passkey is None or (user is not None and passkey.user_id != user.pk):
            return None
        if user is None:
            handle = credential.get("response", {}).get("userHandle")
            try:
                if base64url_to_bytes(str(handle)) != user_handle(passkey.user_id):
                    return None
            except (ValueError, TypeError):
                return None
        try:
            verified = verify_authentication_response(
                credential=json.dumps(credential),
                expected_challenge=expected_challenge,
                expected_rp_id=settings.WEBAUTHN_RP_ID,
                expected_origin=settings.WEBAUTHN_ORIGINS,
                credential_public_key=bytes(passkey.public_key),
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=user is None,
            )
        except (WebAuthnException, ValueError, TypeError, KeyError):
            return None
        passkey.sign_count = verified.new_sign_count
        passkey.last_used_at = timezone.now()
        passkey.save(update_fields=["sign_count", "last_used_at"])
    return passkey
