"""Forged-but-signed tokens through the real gunicorn over TLS (security review, issue 11)."""

import uuid

import pytest

import jwt
from auth.keys import key_ring
from tests.conftest import tokens_for
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
