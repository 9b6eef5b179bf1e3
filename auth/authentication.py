import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError

from auth.selectors import session_user
from auth.tokens import AccessToken, verified_tokens
from restapi.context import actor_set
from restapi.exceptions import InvalidAccessToken, TokenExpired
from restapi.pagination import MAX_DB_ID


class AuthenticatedRequest(Request):
    """What a view behind IsAuthenticated gets: the session's user and its access token."""

    user: AbstractBaseUser  # type: ignore[assignment]
    auth: AccessToken


def auth_time(token: AccessToken) -> int | None:
    """When the token's session was authenticated (for step-up checks)."""
    value = token.get("auth_time")
    return value if isinstance(value, int) else None


class JWTAuthentication(SimpleJWTAuthentication):
    """`Authorization: Bearer <jwt>` or, as the Rust service read it, `<TOKEN_HEADER>: <jwt>`.
    One query a request."""

    # simplejwt's stubs say bytes; its code returns None without a header, as this does.
    def get_header(self, request: Request) -> bytes | None:  # type: ignore[override]
        header = super().get_header(request)
        if header is not None:
            return header
        seed_header = request.META.get("HTTP_" + settings.TOKEN_HEADER.upper().replace("-", "_"))
        if seed_header is None:
            return None
        return b"Bearer " + seed_header.strip().encode("latin-1")

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        authenticated = super().authenticate(request)
        if authenticated is not None:
            user = authenticated[0]
            # The actor of what the request does, for the audit trail.
            actor_set(actor_id=user.pk, is_admin=bool(getattr(user, "is_admin", False)))
        return authenticated

    def get_validated_token(self, raw_token: bytes) -> AccessToken:
        try:
            return verified_tokens.get(raw_token.decode("latin-1"))
        except ExpiredTokenError as exc:
            raise TokenExpired() from exc
        except TokenError as exc:
            raise InvalidAccessToken() from exc

    def get_user(self, validated_token: Any) -> AbstractBaseUser:  # type: ignore[override]
        """The token's user, if its session is live: one query, so revocation is immediate."""
        user_id = int(validated_token["sub"])
        if user_id > MAX_DB_ID:
            raise InvalidAccessToken()
        user = session_user(session_id=uuid.UUID(validated_token["sid"]), user_id=user_id)
        if user is None:
            raise InvalidAccessToken()
        return user
