"""simplejwt extended with what it lacks: ES256 keys chosen by `kid`, and our claims."""

import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.tokens import AccessToken as SimpleAccessToken

import jwt
from auth.keys import key_ring, key_store
from users.models import User

ALGORITHM = "ES256"
REQUIRED_CLAIMS = ["sub", "sid", "exp", "iat", "jti"]


class KeyRingTokenBackend(TokenBackend):
    """Signs with the current key (`kid` in the header); verifies with the key the `kid` names."""

    def __init__(self) -> None:
        super().__init__(ALGORITHM)

    def encode(self, payload: dict[str, Any]) -> str:
        signer = key_ring().signer
        return jwt.encode(
            payload, signer.private_key, algorithm=ALGORITHM, headers={"kid": signer.kid}
        )

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid", "")
            # An unknown kid may be a key another process just rotated in: look again.
            key = key_ring().verifiers.get(kid) or key_store.ring(recheck=True).verifiers.get(kid)
            if key is None or header.get("alg") != ALGORITHM:
                raise TokenBackendError("Unknown key or algorithm")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                leeway=self.get_leeway(),
                options={"require": REQUIRED_CLAIMS, "verify_signature": verify},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        if not _claims_well_typed(claims):
            raise TokenBackendError("Token is invalid")
        return claims


def _claims_well_typed(claims: dict[str, Any]) -> bool:
    """A valid signature says who signed, not that the claims have the types this service
    issues: the claims it parses are checked here, so that a strange one is a 401 and
    never an exception further on. PyJWT itself checks `exp`, `iat`, `jti` and that `sub`
    is a string."""
    sub, sid, token_type = claims["sub"], claims["sid"], claims.get("token_type")
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit()):
        return False
    if not isinstance(sid, str) or not isinstance(token_type, str):
        return False
    try:
        uuid.UUID(sid)
    except ValueError:
        return False
    return True


token_backend = KeyRingTokenBackend()


class AccessToken(SimpleAccessToken):
    def get_token_backend(self) -> TokenBackend:
        return token_backend


class VerifiedTokens:
    """Access tokens whose signature and claims were verified, by their text: a client
    sends the same token for its whole lifetime, and its ES256 check and parsing (about
    a fifth of an authenticated request) need not run again. A token is taken from here
    only while it has not expired and the key that signed it is still trusted; anything
    else is verified again (and so refused as it would have been). Revocation is not
    cached: every request still looks its session up."""

    def __init__(self, size: int = 4096) -> None:
        # raw token -> (the verified token, the kid of the key that signed it)
        self._tokens: OrderedDict[str, tuple[AccessToken, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, raw: str) -> AccessToken:
        with self._lock:
            found = self._tokens.get(raw)
            if found is not None:
                self._tokens.move_to_end(raw)
        if found is not None:
            token, kid = found
            if token["exp"] > time.time() and kid in key_ring().verifiers:
                return token
        token = AccessToken(raw)  # type: ignore[arg-type]  # verifies it, or raises TokenError
        kid = jwt.get_unverified_header(raw)["kid"]
        with self._lock:
            self._tokens[raw] = (token, kid)
            if len(self._tokens) > self._size:
                self._tokens.popitem(last=False)
        return token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


verified_tokens = VerifiedTokens()


def access_token_for(user: User, *, session_id: uuid.UUID) -> str:
    token = AccessToken()
    token["sub"] = str(user.pk)
    token["sid"] = str(session_id)
    token["email"] = user.email
    token["role"] = user.role
    token["org"] = settings.TOKEN_ORG
    return str(token)
