from typing import Any

from django.conf import settings
from rest_framework import serializers

from mfa.serializers import exactly_one, recovery_code_field, totp_code_field
from restapi.fields import StrictCharField, StrictEmailField, db_id_field
from users.models import Role, User, UserState


def password_field(**kwargs: object) -> StrictCharField:
    # Passwords are never trimmed: every character counts.
    return StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        **kwargs,
    )


class UserOutput(serializers.Serializer[User]):
    """The Rust service's UserShape. A plain Serializer: ModelSerializer rebuilds its
    fields per call."""

    user_id = serializers.IntegerField(source="pk")
    email = serializers.EmailField()
    state = serializers.IntegerField()
    verified = serializers.IntegerField()
    role = serializers.CharField()
    pending_email = serializers.EmailField(allow_null=True)
    # True after a login with a password that today's rules refuse (one set in the Rust
    # service): the client should ask for a new one. Until then the account works as usual.
    password_change_required = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class UserMessage(UserOutput):
    msg = serializers.CharField()


class UserWithTokens(UserMessage):
    """Registration and login; the tokens are absent while verification is required."""

    token = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)


class LoginInput(serializers.Serializer[None]):
    # Not validated as an email: a malformed address is just another failed login.
    email = StrictCharField(max_length=254)
    password = password_field()


class LoginMfaInput(serializers.Serializer[None]):
    """The second step: the mfa_token and exactly one of a TOTP code, a recovery code or a
    WebAuthn assertion (the PublicKeyCredential as JSON)."""

    mfa_token = StrictCharField(max_length=128)
    code = totp_code_field(required=False)
    recovery_code = recovery_code_field(required=False)
    webauthn = serializers.DictField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return exactly_one(attrs, ("code", "recovery_code", "webauthn"))


class SecondFactorNeededOutput(serializers.Serializer[None]):
    mfa_required = serializers.BooleanField()
    mfa_token = serializers.CharField()
    methods = serializers.ListField(
        child=serializers.ChoiceField(["totp", "webauthn", "recovery_code"])
    )
    webauthn = serializers.DictField(
        allow_null=True, help_text="WebAuthn request options, when the user has a passkey"
    )
    msg = serializers.CharField()


class PasskeyLoginOptionsOutput(serializers.Serializer[None]):
    challenge_token = serializers.CharField(help_text="send it back with the assertion")
    options = serializers.DictField(
        help_text="PublicKeyCredentialRequestOptions, as JSON (binary fields base64url)"
    )
    msg = serializers.CharField()


class LoginPasskeyInput(serializers.Serializer[None]):
    challenge_token = StrictCharField(max_length=128)
    credential = serializers.DictField(
        help_text="the PublicKeyCredential navigator.credentials.get() made, as JSON"
    )


class UserCreateInput(serializers.Serializer[None]):
    email = StrictEmailField(max_length=254)
    password = password_field()


class UserUpdateInput(serializers.Serializer[None]):
    user_id = db_id_field()
    email = StrictEmailField(max_length=254, required=False)
    password = password_field(required=False)
    current_password = password_field(required=False)
    state = serializers.ChoiceField(choices=UserState.values, required=False)
    role = serializers.ChoiceField(choices=Role.values, required=False)


class UserIdInput(serializers.Serializer[None]):
    user_id = db_id_field()


class UserSearchInput(serializers.Serializer[None]):
    email = StrictCharField(min_length=3, max_length=254, trim_whitespace=False)
    state = serializers.ChoiceField(choices=UserState.values, required=False)
    verified = serializers.IntegerField(min_value=0, max_value=1, required=False)
    # The Rust service answered the newest 100 matches; the first page is the same.
    limit = serializers.IntegerField(min_value=1, max_value=100, default=100)
    cursor = StrictCharField(max_length=200, required=False)


class VerifyInput(serializers.Serializer[None]):
    u = db_id_field()
    t = StrictCharField(max_length=128)


class EmailInput(serializers.Serializer[None]):
    # The Rust service's reset request also sent user_id; it is accepted and not needed.
    email = StrictEmailField(max_length=254)
    user_id = db_id_field(required=False)


class PasswordChangeInput(serializers.Serializer[None]):
    email = StrictEmailField(max_length=254)
    token = StrictCharField(max_length=128)
    password = password_field()
