import uuid
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError

from auth.models import Session
from auth.tokens import AccessToken
from restapi.exceptions import InvalidAccessToken, TokenExpired
from users.models import User, UserState


class JWTAuthentication(SimpleJWTAuthentication):
    """`Authorization: Bearer <jwt>` or the seed's `<TOKEN_HEADER>: <jwt>`; one query a request."""

    # simplejwt's stubs say bytes; its code returns None without a header, as this does.
    def get_header(self, request: Request) -> bytes | None:  # type: ignore[override]
        header = super().get_header(request)
        if header is not None:
            return header
        seed_header = request.META.get("HTTP_" + settings.TOKEN_HEADER.upper().replace("-", "_"))
        if seed_header is None:
            return None
        return b"Bearer " + seed_header.strip().encode("latin-1")

    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            return AccessToken(raw_token)  # type: ignore[arg-type]  # simplejwt takes bytes
        except ExpiredTokenError as exc:
            raise TokenExpired() from exc
        except TokenError as exc:
            raise InvalidAccessToken() from exc

    def get_user(self, validated_token: Any) -> User:  # type: ignore[override]
        """The token's user, if its session is live: one query, so revocation is immediate."""
        try:
            session = (
                Session.objects.live()
                .select_related("user")
                .get(
                    pk=uuid.UUID(validated_token["sid"]),
                    user_id=int(validated_token["sub"]),
                    user__state=UserState.ACTIVE,
                )
            )
        except (ValueError, OverflowError, Session.DoesNotExist) as exc:
            raise InvalidAccessToken() from exc
        return session.user
