"""Second factors: a TOTP secret, recovery codes and passkeys, and the short-lived
challenges a login or a passkey ceremony goes through. Secrets are kept encrypted
(mfa/crypto.py) or hashed, never in the clear."""

import uuid

from django.conf import settings
from django.db import models


class Totp(models.Model):
    """A user's authenticator app. Active once confirmed with a first code."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    secret = models.TextField()  # encrypted with MFA_ENCRYPTION_KEYS
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The time step of the last accepted code: a code is accepted once, and never one of
    # an earlier step.
    last_used_step = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "mfa_totp"

    def __str__(self) -> str:
        return f"TOTP of user {self.user_id}"


class RecoveryCode(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "mfa_recovery_codes"
        constraints = [
            models.UniqueConstraint(fields=["user", "code_hash"], name="mfa_recovery_code_unique")
        ]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of user {self.user_id}"


class Passkey(models.Model):
    """A WebAuthn credential: its id and public key, and the authenticator's sign counter."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    credential_id = models.BinaryField(max_length=1023, unique=True)
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list)
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mfa_passkeys"

    def __str__(self) -> str:
        return f"passkey {self.pk} of user {self.user_id}"


class ChallengePurpose(models.TextChoices):
    LOGIN = "login"  # a password was right; a second factor completes it (the mfa_token)
    PASSKEY_REGISTER = "passkey_register"
    PASSKEY_LOGIN = "passkey_login"  # a passwordless login (MFA_PASSKEY_LOGIN)


class Challenge(models.Model):
    """One use, a few minutes: the mfa_token of a login, or a WebAuthn ceremony's challenge.
    A client holds `{id}.{secret}`; only the secret's SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+"
    )
    purpose = models.CharField(max_length=16, choices=ChallengePurpose.choices)
    secret_hash = models.CharField(max_length=64)
    webauthn_challenge = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mfa_challenges"

    def __str__(self) -> str:
        return f"{self.purpose} challenge {self.pk}"
