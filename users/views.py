import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth.authentication import auth_time
from auth.ratelimit import bucket_take
from auth.services import Tokens
from restapi.clients import client_ip, request_origin
from restapi.exceptions import ApiError, InvalidOneTimeToken, RateLimited
from restapi.schema import (
    MessageOutput,
    OptionalBody,
    envelope,
    errors,
    id_parameter,
    page_envelope,
)
from restapi.serializing import page_body, shaped, validated
from users import selectors, services
from users.metrics import LOGINS
from users.models import User
from users.requests import UserRequest
from users.serializers import (
    EmailInput,
    LoginInput,
    LoginMfaInput,
    LoginPasskeyInput,
    PasskeyLoginOptionsOutput,
    PasswordChangeInput,
    SecondFactorNeededOutput,
    UserCreateInput,
    UserIdInput,
    UserMessage,
    UserOutput,
    UserSearchInput,
    UserUpdateInput,
    UserWithTokens,
    VerifyInput,
)

ACCEPTED = "If the account exists, an email is on its way."


def user_with_tokens(user: User, tokens: Tokens) -> dict[str, Any]:
    """The body of a login or a registration: the UserShape and the session's tokens."""
    return {**shaped(UserOutput, user), **asdict(tokens), "msg": "success"}


@contextmanager
def counted_login() -> Iterator[None]:
    """Counts a failed login (every kind: password, second step, passkey) by its code."""
    try:
        yield
    except (ApiError, RateLimited) as exc:
        LOGINS.labels(exc.default_code).inc()
        raise


def logged_in(user: User, tokens: Tokens) -> Response:
    LOGINS.labels("success").inc()
    return Response(user_with_tokens(user, tokens), status=status.HTTP_201_CREATED)


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="login",
        request=LoginInput,
        responses={
            201: UserWithTokens,
            200: SecondFactorNeededOutput,
            **errors(400, 401, 403, 429, 503),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        with counted_login():
            user, outcome = services.user_login(
                **validated(LoginInput, request), **request_origin(request)
            )
        if isinstance(outcome, services.SecondFactorNeeded):
            LOGINS.labels("mfa_required").inc()
            body = {
                "mfa_required": True,
                "mfa_token": outcome.mfa_token,
                "methods": outcome.methods,
                "webauthn": outcome.webauthn,
                "msg": "Complete the login with a second factor: POST /login/mfa.",
            }
            return Response(body, headers={"Cache-Control": "no-store"})
        return logged_in(user, outcome)


class LoginMfaView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="login_mfa",
        request=LoginMfaInput,
        responses={201: UserWithTokens, **errors(400, 401, 429, 503)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        with counted_login():
            user, tokens = services.user_login_mfa(
                **validated(LoginMfaInput, request), **request_origin(request)
            )
        return logged_in(user, tokens)


class LoginPasskeyOptionsView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="login_passkey_options",
        description="A passwordless login's first step (MFA_PASSKEY_LOGIN=1; otherwise a "
        "404): request options for navigator.credentials.get(), and the token that names "
        "their challenge.",
        request=None,
        responses={200: PasskeyLoginOptionsOutput, **errors(404, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        token, options = services.passkey_login_start(client_ip=client_ip(request))
        body = {"challenge_token": token, "options": options, "msg": "success"}
        return Response(body, headers={"Cache-Control": "no-store"})


class LoginPasskeyView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="login_passkey",
        description="A passwordless login (MFA_PASSKEY_LOGIN=1; otherwise a 404): a "
        "user-verified passkey's assertion for the challenge of POST /login/passkey/options.",
        request=LoginPasskeyInput,
        responses={201: UserWithTokens, **errors(400, 401, 403, 404, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        # Off, the route is as an unknown one: not even its body is read.
        services.passkey_login_enabled()
        with counted_login():
            user, tokens = services.user_login_passkey(
                **validated(LoginPasskeyInput, request), **request_origin(request)
            )
        return logged_in(user, tokens)


class UserView(APIView):
    """POST registers (no auth); PUT updates and DELETE deactivates (JWT)."""

    def get_permissions(self) -> list[BasePermission]:
        method = getattr(self.request, "method", None)
        return [AllowAny()] if method == "POST" else [IsAuthenticated()]

    def get_authenticators(self) -> list[Any]:
        # Registration needs none; the schema generator calls this before it sets a request.
        method = getattr(self.request, "method", None)
        return [] if method == "POST" else super().get_authenticators()

    @extend_schema(
        operation_id="user_register",
        request=UserCreateInput,
        responses={201: UserWithTokens, **errors(400, 409, 429, 503)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        bucket_take(action="register", key=client_ip(request))
        user, tokens = services.user_register(
            **validated(UserCreateInput, request), **request_origin(request)
        )
        if tokens is None:
            body = {**shaped(UserOutput, user), "msg": "Confirm your email to log in."}
        else:
            body = user_with_tokens(user, tokens)
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="user_update",
        request=UserUpdateInput,
        responses={200: UserWithTokens, **errors(400, 403, 404, 409, 429, 503)},
    )
    def put(self, request: UserRequest) -> Response:
        data = validated(UserUpdateInput, request)
        user = selectors.user_get_for_actor(actor=request.user, user_id=data.pop("user_id"))
        user, tokens = services.user_update(
            actor=request.user,
            user=user,
            actor_session=uuid.UUID(request.auth["sid"]),
            auth_time=auth_time(request.auth),
            client_ip=client_ip(request),
            **data,
        )
        body = {**shaped(UserOutput, user), "msg": "success"}
        if tokens is not None:
            # Every other session was revoked; this one goes on with fresh tokens.
            body |= asdict(tokens)
        return Response(body)

    @extend_schema(
        operation_id="user_deactivate",
        description='The body is `{"user_id": …}`, as the Rust service\'s clients send it '
        "(OpenAPI 3.0 has no request body on DELETE).",
        request=UserIdInput,
        responses={204: None, **errors(400, 404, 413, 415)},
    )
    def delete(self, request: UserRequest) -> Response:
        data = validated(UserIdInput, request)
        user = selectors.user_get_for_actor(actor=request.user, user_id=data["user_id"])
        services.user_deactivate(actor=request.user, user=user, auth_time=auth_time(request.auth))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserDetailView(APIView):
    @extend_schema(
        operation_id="user_get",
        parameters=[id_parameter("user_id")],
        responses={200: UserMessage, **errors(404)},
    )
    def get(self, request: UserRequest, user_id: int) -> Response:
        user = selectors.user_read(actor=request.user, user_id=user_id)
        return Response({**shaped(UserOutput, user), "msg": "success"})


class UserSearchView(APIView):
    @extend_schema(
        operation_id="user_search",
        request=UserSearchInput,
        responses={
            200: page_envelope("UserSearchOutput", "users", UserMessage(many=True)),
            **errors(400),
        },
    )
    def post(self, request: UserRequest) -> Response:
        query = validated(UserSearchInput, request)
        page = selectors.user_search(actor=request.user, **query)
        # The Rust service's search items carried an empty msg.
        return Response(page_body("users", page, UserOutput, item_msg=""))


class VerifyView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="user_verify",
        parameters=[
            id_parameter("u", OpenApiParameter.QUERY, required=True, description="user id"),
            OpenApiParameter(
                "t", {"type": "string", "maxLength": 128}, required=True, description="the token"
            ),
        ],
        responses={200: UserMessage, **errors(400, 409, 429)},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        # Before any lookup: guessing is bounded per client, never by burning the token.
        bucket_take(action="verify", key=client_ip(request))
        query = VerifyInput(data=request.query_params)
        if not query.is_valid():
            raise InvalidOneTimeToken()
        user = services.user_verify(
            user_id=query.validated_data["u"], token=query.validated_data["t"]
        )
        return Response({**shaped(UserOutput, user), "msg": "Your email is confirmed."})


class VerifyResendView(APIView):
    """With a JWT: for the caller. Without (verification required, so no JWT yet): by email."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="user_verify_resend",
        description="With a JWT: for the caller, no body. Without one (verification is "
        'required, so there is no JWT yet): `{"email": …}`.',
        request=OptionalBody(EmailInput),
        responses={202: MessageOutput, **errors(400, 429)},
        auth=[{"jwtAuth": []}, {}],  # type: ignore[list-item]
    )
    def post(self, request: Request) -> Response:
        bucket_take(action="verify_resend", key=client_ip(request))
        # A body is optional with a JWT, but one that is sent must be valid either way.
        sent_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
        body = (
            validated(EmailInput, request)
            if sent_body or not isinstance(request.user, User)
            else {}
        )
        if isinstance(request.user, User):
            services.verification_resend(user=request.user)
        else:
            services.verification_resend_by_email(email=body["email"])
        return Response({"msg": ACCEPTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetView(APIView):
    """Always the same 202, whether or not the account exists; a JWT is accepted, not needed."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="user_password_reset",
        request=EmailInput,
        responses={202: MessageOutput, **errors(400, 429)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        bucket_take(action="password_reset", key=client_ip(request))
        services.password_reset_request(email=validated(EmailInput, request)["email"])
        return Response({"msg": ACCEPTED}, status=status.HTTP_202_ACCEPTED)


class PasswordChangeView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="user_password_change",
        request=PasswordChangeInput,
        responses={
            200: envelope("PasswordChangeOutput", user_id=serializers.IntegerField()),
            **errors(400, 429),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        # Before any lookup: guessing is bounded per client, never by burning the token.
        bucket_take(action="password_change", key=client_ip(request))
        user = services.password_reset_complete(**validated(PasswordChangeInput, request))
        return Response({"user_id": user.pk, "msg": "Your password is changed; log in again."})
