import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth import selectors, services
from auth.keys import key_ring, public_jwk
from auth.ratelimit import client_ip
from auth.serializers import LoginInput, RefreshInput, SessionOutput
from auth.tokens import ALGORITHM
from restapi.exceptions import ApiError, NotFound, RateLimited
from restapi.metrics import LOGINS
from restapi.schema import envelope, errors
from restapi.views import AuthenticatedRequest, shaped, valid
from users.models import User
from users.serializers import UserOutput, UserWithTokens


def request_origin(request: Request) -> dict[str, str]:
    return {
        "client_ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
    }


def token_body(tokens: services.Tokens) -> dict[str, str]:
    return {"token": tokens.token, "refresh": tokens.refresh}


def user_with_tokens(user: User, tokens: services.Tokens) -> dict[str, Any]:
    """The body of a login or a registration: the UserShape and the session's tokens."""
    return {**shaped(UserOutput, user), **token_body(tokens), "msg": "success"}


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="login",
        request=LoginInput,
        responses={201: UserWithTokens, **errors(400, 401, 403, 429, 503)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        try:
            user, tokens = services.user_login(
                **valid(LoginInput, request), **request_origin(request)
            )
        except (ApiError, RateLimited) as exc:
            LOGINS.labels(exc.default_code).inc()
            raise
        LOGINS.labels("success").inc()
        return Response(user_with_tokens(user, tokens), status=status.HTTP_201_CREATED)


class RefreshView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="login_refresh",
        request=RefreshInput,
        responses={
            200: envelope(
                "TokensOutput", token=serializers.CharField(), refresh=serializers.CharField()
            ),
            **errors(400, 401),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        tokens = services.session_refresh(**valid(RefreshInput, request))
        return Response({**token_body(tokens), "msg": "success"})


class LogoutView(APIView):
    @extend_schema(operation_id="logout", request=None, responses={204: None})
    def post(self, request: AuthenticatedRequest) -> Response:
        services.user_logout(user=request.user, session_id=uuid.UUID(request.auth["sid"]))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    @extend_schema(operation_id="logout_all", request=None, responses={204: None})
    def post(self, request: AuthenticatedRequest) -> Response:
        services.user_logout(user=request.user, session_id=None)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionListView(APIView):
    @extend_schema(
        operation_id="sessions_list",
        responses={
            200: envelope("SessionsOutput", sessions=SessionOutput(many=True)),
        },
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        sessions = selectors.sessions_active_for(user=request.user)
        context = {"current_session": request.auth["sid"]}
        data = SessionOutput(sessions, many=True, context=context).data  # type: ignore[arg-type]
        return Response({"sessions": data, "msg": "success"})


class SessionDetailView(APIView):
    @extend_schema(operation_id="session_revoke", responses={204: None, **errors(404)})
    def delete(self, request: AuthenticatedRequest, session_id: uuid.UUID) -> Response:
        if not services.user_logout(user=request.user, session_id=session_id):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)


class JwksView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="jwks",
        responses={
            200: inline_serializer(
                "Jwks", fields={"keys": serializers.ListField(child=serializers.DictField())}
            )
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        keys: list[dict[str, Any]] = [
            {**public_jwk(key), "kid": kid, "use": "sig", "alg": ALGORITHM}
            for kid, key in key_ring().verifiers.items()
        ]
        return Response({"keys": keys}, headers={"Cache-Control": "public, max-age=60"})


class OpenIdConfigurationView(APIView):
    """What another service needs to verify this one's access tokens, as OpenID Connect
    Discovery names it: the issuer, where the keys are, the signing algorithms. The
    service issues access tokens only (no ID tokens, no authorization endpoint): this is
    the part of a provider's document that verifiers read."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="openid_configuration",
        responses={
            200: inline_serializer(
                "OpenIdConfiguration",
                fields={
                    "issuer": serializers.CharField(),
                    "jwks_uri": serializers.CharField(),
                    "id_token_signing_alg_values_supported": serializers.ListField(
                        child=serializers.CharField()
                    ),
                    "subject_types_supported": serializers.ListField(child=serializers.CharField()),
                },
            )
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        document = {
            "issuer": settings.TOKEN_ISSUER,
            "jwks_uri": f"{settings.PUBLIC_BASE_URL}/.well-known/jwks.json",
            # The algorithm of the access tokens, under the name verifiers look for.
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "subject_types_supported": ["public"],
        }
        return Response(document, headers={"Cache-Control": "public, max-age=3600"})
