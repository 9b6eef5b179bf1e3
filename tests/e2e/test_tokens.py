"""Forged-but-signed tokens through the real gunicorn over TLS (security review, issue 11)."""

import ssl
import uuid

import jwt
import pytest

from auth.keys import key_ring
from tests.helpers import tokens_for
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "claims",
    [
        {"sid": 123},
        {"sid": None},
        {"sid": ["x"]},
        {"sub": 1},
        {"sub": ["1"]},
        {"sub": {"id": 1}},
        {"jti": 7},
    ],
)
def test_validly_signed_tokens_with_wrongly_typed_claims_are_401(server, password_hash, claims):
    user = User.objects.create(
        email=f"typed{uuid.uuid4().hex[:8]}@example.com", password=password_hash
    )
    good = jwt.decode(tokens_for(user).token, options={"verify_signature": False})
    ring = key_ring()
    token = jwt.encode(
        {**good, **claims},
        ring.signer.private_key,
        algorithm="ES256",
        headers={"kid": ring.signer.kid},
    )
    response = server.session().get(
        f"{server.url}/user/{user.pk}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"


def test_another_service_verifies_tokens_from_the_discovery_document(server):
    """As a service that accepts these tokens would: from the discovery document to the
    keys (PyJWT's PyJWKClient) to a verified token."""
    http = server.session()
    discovery = http.get(f"{server.url}/.well-known/openid-configuration")
    assert discovery.status_code == 200
    document = discovery.json()
    assert document["issuer"] == server.env["TOKEN_ISSUER"]
    assert document["jwks_uri"] == f"{server.url}/.well-known/jwks.json"
    token = server.register(f"verifier{uuid.uuid4().hex[:8]}@example.com")

    keys = jwt.PyJWKClient(
        document["jwks_uri"], ssl_context=ssl.create_default_context(cafile=str(server.ca))
    )
    verified = jwt.decode(
        token,
        keys.get_signing_key_from_jwt(token).key,
        algorithms=document["id_token_signing_alg_values_supported"],
        issuer=document["issuer"],
        audience=server.env["TOKEN_AUDIENCE"],
    )
    assert verified["token_type"] == "access"
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            token,
            keys.get_signing_key_from_jwt(token).key,
            algorithms=document["id_token_signing_alg_values_supported"],
            issuer=document["issuer"],
            audience="some-other-service",
        )
