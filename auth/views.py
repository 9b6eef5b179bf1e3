import uuid
from typing import Any

from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth import selectors, services
from auth.keys import key_ring, public_jwk
from auth.ratelimit import RateLimited, bucket_take, client_ip
from auth.serializers import LoginInput, RefreshInput, SessionOutput
from restapi.exceptions import ApiError, NotFound
from restapi.metrics import LOGINS
from restapi.views import valid
from users.serializers import UserOutput


def request_origin(request: Request) -> dict[str, str]:
    return {
        "client_ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
    }


def token_body(tokens: services.Tokens) -> dict[str, str]:
    return {"token": tokens.token, "refresh": tokens.refresh}


class LoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        bucket_take(action="login", ip=client_ip(request))
        try:
            user, tokens = services.user_login(
                **valid(LoginInput, request), **request_origin(request)
            )
        except ApiError as exc:
            LOGINS.labels(exc.default_code).inc()
            raise
        except RateLimited:
            LOGINS.labels("rate_limited").inc()
            raise
        LOGINS.labels("success").inc()
        body = {**UserOutput(user).data, **token_body(tokens), "msg": "success"}
        return Response(body, status=status.HTTP_201_CREATED)


class RefreshView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        tokens = services.session_refresh(**valid(RefreshInput, request))
        return Response({**token_body(tokens), "msg": "success"})


class LogoutView(APIView):
    def post(self, request: Request) -> Response:
        services.user_logout(user=request.user, session_id=uuid.UUID(request.auth["sid"]))
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    def post(self, request: Request) -> Response:
        services.user_logout(user=request.user, session_id=None)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionListView(APIView):
    def get(self, request: Request) -> Response:
        sessions = selectors.sessions_active_for(user=request.user)
        context = {"current_session": request.auth["sid"]}
        data = SessionOutput(sessions, many=True, context=context).data
        return Response({"sessions": data, "msg": "success"})


class SessionDetailView(APIView):
    def delete(self, request: Request, session_id: uuid.UUID) -> Response:
        if not services.user_logout(user=request.user, session_id=session_id):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)


class JwksView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        keys: list[dict[str, Any]] = [
            {**public_jwk(key), "kid": kid, "use": "sig", "alg": "ES256"}
            for kid, key in key_ring().verifiers.items()
        ]
        return Response({"keys": keys}, headers={"Cache-Control": "public, max-age=60"})
