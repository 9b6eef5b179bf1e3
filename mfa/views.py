import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from auth.authentication import AuthenticatedRequest, auth_time
from mfa import selectors, services
from mfa.serializers import (
    CodeInput,
    CodeOrRecoveryInput,
    FactorsOutput,
    PasskeyMessage,
    PasskeyOutput,
    PasskeyRegisterInput,
    PasskeyRegistrationOptionsOutput,
    PasskeyRenameInput,
    RecoveryCodesOutput,
    TotpEnrolmentOutput,
)
from restapi.schema import envelope, errors, id_parameter
from restapi.serializing import shaped, validated


class FactorsView(APIView):
    @extend_schema(operation_id="mfa_factors", responses={200: FactorsOutput})
    def get(self, request: AuthenticatedRequest) -> Response:
        factors = selectors.factors_of(user=request.user)
        return Response(
            {
                "methods": factors.methods,
                "totp": factors.totp,
                "passkeys": factors.passkeys,
                "recovery_codes_left": factors.recovery_codes_left,
                "msg": "success",
            }
        )


class TotpView(APIView):
    @extend_schema(
        operation_id="mfa_totp_enrol",
        request=None,
        responses={201: TotpEnrolmentOutput, **errors(409)},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        enrolment = services.totp_enrol(user=request.user, auth_time=auth_time(request.auth))
        body = {
            "secret": enrolment.secret,
            "otpauth_uri": enrolment.otpauth_uri,
            "qr_svg": enrolment.qr_svg,
            "msg": "Scan the code, then confirm with the first code it shows.",
        }
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(
        operation_id="mfa_totp_disable",
        description="Needs a recent authentication (step-up) and a current code or a "
        "recovery code; every other session is revoked.",
        request=CodeOrRecoveryInput,
        responses={204: None, **errors(400, 401, 409, 429)},
    )
    def delete(self, request: AuthenticatedRequest) -> Response:
        data = validated(CodeOrRecoveryInput, request)
        services.totp_disable(
            user=request.user,
            auth_time=auth_time(request.auth),
            session_id=uuid.UUID(request.auth["sid"]),
            code=data.get("code"),
            recovery_code=data.get("recovery_code"),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TotpConfirmView(APIView):
    @extend_schema(
        operation_id="mfa_totp_confirm",
        request=CodeInput,
        responses={200: RecoveryCodesOutput, **errors(400, 409, 429)},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        codes = services.totp_confirm(user=request.user, **validated(CodeInput, request))
        body = {"recovery_codes": codes, "msg": "Keep these codes: they are shown once."}
        return Response(body, headers={"Cache-Control": "no-store"})


class RecoveryCodesView(APIView):
    @extend_schema(
        operation_id="mfa_recovery_codes",
        description="New recovery codes (step-up); the old ones stop working.",
        request=None,
        responses={200: RecoveryCodesOutput, **errors(401, 409)},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        codes = services.recovery_codes_regenerate(
            user=request.user, auth_time=auth_time(request.auth)
        )
        body = {"recovery_codes": codes, "msg": "Keep these codes: they are shown once."}
        return Response(body, headers={"Cache-Control": "no-store"})


class PasskeyOptionsView(APIView):
    @extend_schema(
        operation_id="mfa_passkey_options",
        description="Starts a registration: the options for navigator.credentials.create(), "
        "and the token that names its challenge (one use, MFA_TOKEN_TTL_SECONDS).",
        request=None,
        responses={200: PasskeyRegistrationOptionsOutput},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        token, options = services.passkey_registration_start(
            user=request.user, auth_time=auth_time(request.auth)
        )
        body = {"challenge_token": token, "options": options, "msg": "success"}
        return Response(body, headers={"Cache-Control": "no-store"})


class PasskeysView(APIView):
    @extend_schema(
        operation_id="mfa_passkeys_list",
        responses={200: envelope("PasskeysOutput", passkeys=PasskeyOutput(many=True))},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        found = selectors.passkeys_of(user=request.user)
        passkeys = [shaped(PasskeyOutput, passkey) for passkey in found]
        return Response({"passkeys": passkeys, "msg": "success"})

    @extend_schema(
        operation_id="mfa_passkey_register",
        description="Stores the credential the browser made for the challenge of "
        "POST /user/mfa/passkeys/options; a credential that does not verify (another "
        "origin or challenge, one already registered) is a 400 invalid_mfa_code.",
        request=PasskeyRegisterInput,
        responses={201: PasskeyMessage, **errors(400, 401)},
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        passkey = services.passkey_register(
            user=request.user, **validated(PasskeyRegisterInput, request)
        )
        body = {**shaped(PasskeyOutput, passkey), "msg": "success"}
        return Response(body, status=status.HTTP_201_CREATED)


class PasskeyDetailView(APIView):
    @extend_schema(
        operation_id="mfa_passkey_rename",
        parameters=[id_parameter("passkey_id")],
        request=PasskeyRenameInput,
        responses={200: PasskeyMessage, **errors(400, 404)},
    )
    def put(self, request: AuthenticatedRequest, passkey_id: int) -> Response:
        # The body first: a bad one is the same 400 whoever's the id.
        data = validated(PasskeyRenameInput, request)
        passkey = selectors.passkey_get_for_user(user=request.user, passkey_id=passkey_id)
        passkey = services.passkey_rename(passkey=passkey, **data)
        return Response({**shaped(PasskeyOutput, passkey), "msg": "success"})

    @extend_schema(
        operation_id="mfa_passkey_delete",
        description="Needs a recent authentication (step-up); with the last factor go the "
        "recovery codes.",
        parameters=[id_parameter("passkey_id")],
        responses={204: None, **errors(401, 404)},
    )
    def delete(self, request: AuthenticatedRequest, passkey_id: int) -> Response:
        passkey = selectors.passkey_get_for_user(user=request.user, passkey_id=passkey_id)
        services.passkey_delete(
            user=request.user, passkey=passkey, auth_time=auth_time(request.auth)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
