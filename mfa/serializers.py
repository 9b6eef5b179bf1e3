from typing import Any

from rest_framework import serializers

from restapi.fields import StrictCharField


def totp_code_field(**kwargs: Any) -> serializers.RegexField:
    return serializers.RegexField(r"^[0-9]{6}$", max_length=6, **kwargs)


def recovery_code_field(**kwargs: Any) -> StrictCharField:
    # Four groups of four, dashes and spaces optional (as shown, or as typed).
    return StrictCharField(max_length=32, **kwargs)


def exactly_one(attrs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The validated body, if it has exactly one of these fields (a 400 on `code` else)."""
    if sum(name in attrs for name in names) != 1:
        raise serializers.ValidationError({"code": [f"Give exactly one of {', '.join(names)}."]})
    return attrs


class CodeInput(serializers.Serializer[None]):
    code = totp_code_field()


class CodeOrRecoveryInput(serializers.Serializer[None]):
    """A current TOTP code, or one of the recovery codes: exactly one of them."""

    code = totp_code_field(required=False)
    recovery_code = recovery_code_field(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return exactly_one(attrs, ("code", "recovery_code"))


class TotpEnrolmentOutput(serializers.Serializer[None]):
    secret = serializers.CharField()
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="the otpauth URI as a QR code, an SVG document")
    msg = serializers.CharField()


class RecoveryCodesOutput(serializers.Serializer[None]):
    recovery_codes = serializers.ListField(child=serializers.CharField())
    msg = serializers.CharField()


class FactorsOutput(serializers.Serializer[None]):
    methods = serializers.ListField(child=serializers.CharField())
    totp = serializers.BooleanField()
    passkeys = serializers.IntegerField()
    recovery_codes_left = serializers.IntegerField()
    msg = serializers.CharField()


class PasskeyOutput(serializers.Serializer[None]):
    passkey_id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    transports = serializers.ListField(child=serializers.CharField())


class PasskeyMessage(PasskeyOutput):
    msg = serializers.CharField()


def passkey_name_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(max_length=64, **kwargs)


class PasskeyRegistrationOptionsOutput(serializers.Serializer[None]):
    challenge_token = serializers.CharField(help_text="send it back with the credential")
    options = serializers.DictField(
        help_text="PublicKeyCredentialCreationOptions, as JSON (binary fields base64url)"
    )
    msg = serializers.CharField()


class PasskeyRegisterInput(serializers.Serializer[None]):
    challenge_token = StrictCharField(max_length=128)
    credential = serializers.DictField(
        help_text="the PublicKeyCredential navigator.credentials.create() made, as JSON"
    )
    name = passkey_name_field(required=False, default="passkey")


class PasskeyRenameInput(serializers.Serializer[None]):
    name = passkey_name_field()
