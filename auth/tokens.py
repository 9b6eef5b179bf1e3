"""simplejwt extended with what it lacks: ES256 keys chosen by `kid`, and our claims."""

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.tokens import AccessToken as SimpleAccessToken

from auth.keys import key_ring, key_store

ALGORITHM = "ES256"
REQUIRED_CLAIMS = ["sub", "sid", "exp", "iat", "jti", "iss", "aud"]


class TokenSubject(Protocol):
    """What a token says about its user (the users app's User is one)."""

    @property
    def pk(self) -> Any: ...
    @property
    def email(self) -> str: ...
    @property
    def role(self) -> str: ...


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
                issuer=settings.TOKEN_ISSUER,
                audience=settings.TOKEN_AUDIENCE,
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


@dataclass(frozen=True)
class Verified:
    token: AccessToken
    # The key that signed it, and the issuer and audience it was checked against.
    kid: str
    issuer: str
    audience: str


class VerifiedTokens:
    """Access tokens whose signature and claims were verified, by their text: a client
    sends the same token for its whole lifetime, and its ES256 check and parsing (about
    a fifth of an authenticated request) need not run again. A token is taken from here
    only while it has not expired, the key that signed it is still trusted and the
    issuer and audience it was checked against are still the service's; anything else
    is verified again (and so refused as it would have been). Revocation is not cached:
    every request still looks its session up."""

    def __init__(self, size: int = 4096) -> None:
        self._tokens: OrderedDict[str, Verified] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, raw: str) -> AccessToken:
        with self._lock:
            found = self._tokens.get(raw)
            if found is not None:
                self._tokens.move_to_end(raw)
        if (
            found is not None
            and found.token["exp"] > time.time()
            and found.kid in key_ring().verifiers
            and found.issuer == settings.TOKEN_ISSUER
            and found.audience == settings.TOKEN_AUDIENCE
        ):
            return found.token
        token = AccessToken(raw)  # type: ignore[arg-type]  # verifies it, or raises TokenError
        verified = Verified(
            token=token,
            kid=jwt.get_unverified_header(raw)["kid"],
            issuer=settings.TOKEN_ISSUER,
            audience=settings.TOKEN_AUDIENCE,
        )
        with self._lock:
            self._tokens[raw] = verified
            if len(self._tokens) > self._size:
                self._tokens.popitem(last=False)
        return token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


verified_tokens = VerifiedTokens()


def access_token_for(
    user: TokenSubject,
    *,
    role: str,
    session_id: uuid.UUID,
    amr: list[str],
    auth_time: int | None,
) -> str:
    token = AccessToken()
    token["amr"] = amr
    if auth_time is not None:
        token["auth_time"] = auth_time
    token["sub"] = str(user.pk)
    token["sid"] = str(session_id)
    token["email"] = user.email
    token["role"] = role
    token["org"] = settings.TOKEN_ORG
    token["iss"] = settings.TOKEN_ISSUER
    token["aud"] = settings.TOKEN_AUDIENCE
    return str(token)
