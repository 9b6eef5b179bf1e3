import base64
import dataclasses
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.utils import timezone

from auth.keys import key_ring, key_store
from auth.models import Session
from auth.selectors import session_user
from auth.tokens import AccessToken
from tests.helpers import BASE_DIR, assert_error, claims, tokens_for
from users.models import User, UserState

pytestmark = pytest.mark.django_db


def get_self(api, user, **headers):
    return api.get(f"/user/{user.pk}", **headers)


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def signed(payload, key=None, kid=None, algorithm="ES256"):
    ring = key_ring()
    return jwt.encode(
        payload,
        key if key is not None else ring.signer.private_key,
        algorithm=algorithm,
        headers={"kid": kid or ring.signer.kid},
    )


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def valid_claims(user):
    now = int(time.time())
    return {
        "sub": str(user.pk),
        "sid": claims(tokens_for(user).token)["sid"],
        "exp": now + 60,
        "iat": now,
        "jti": "abc",
        "token_type": "access",
        "iss": settings.TOKEN_ISSUER,
        "aud": settings.TOKEN_AUDIENCE,
    }


def test_bearer_token_authenticates(api, user):
    assert get_self(api, user, **bearer(tokens_for(user).token)).status_code == 200


def test_seed_style_token_header_authenticates(api, user):
    response = get_self(api, user, HTTP_BEARER=tokens_for(user).token)
    assert response.status_code == 200
    assert response.json()["user_id"] == user.pk


def test_token_header_name_comes_from_settings(api, user, settings):
    settings.TOKEN_HEADER = "X-Api-Token"
    assert get_self(api, user, HTTP_X_API_TOKEN=tokens_for(user).token).status_code == 200


def test_no_token_is_401(api, user):
    response = get_self(api, user)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_is_401(api, user):
    token = AccessToken()
    token.payload |= valid_claims(user) | {"jti": token["jti"]}
    token.set_exp(lifetime=-token.lifetime * 2)
    assert_error(get_self(api, user, **bearer(str(token))), 401, "token_expired")


def test_bad_signature_is_401(api, user):
    other_key = ec.generate_private_key(ec.SECP256R1())
    token = signed(valid_claims(user), key=other_key)
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


def test_tampered_payload_is_401(api, user, other_user):
    header, _, signature = tokens_for(user).token.split(".")
    payload = {**valid_claims(user), "sub": str(other_user.pk)}
    token = f"{header}.{b64url(json.dumps(payload).encode())}.{signature}"
    assert_error(get_self(api, other_user, **bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize("algorithm", ["HS256", "none", "ES384", "RS256"])
def test_other_algorithms_are_401(api, user, algorithm):
    public_pem = (
        key_ring()
        .verifiers[key_ring().signer.kid]
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    if algorithm == "HS256":
        # The classic confusion attack: the public key used as an HMAC secret.
        header = b64url(json.dumps({"alg": "HS256", "kid": key_ring().signer.kid}).encode())
        body = b64url(json.dumps(valid_claims(user)).encode())
        mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
        token = f"{header}.{body}.{b64url(mac)}"
    elif algorithm == "none":
        token = signed(valid_claims(user), key="", algorithm="none")
    elif algorithm == "ES384":
        token = signed(
            valid_claims(user), key=ec.generate_private_key(ec.SECP384R1()), algorithm="ES384"
        )
    else:
        from cryptography.hazmat.primitives.asymmetric import rsa

        token = signed(
            valid_claims(user), key=rsa.generate_private_key(65537, 2048), algorithm="RS256"
        )
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


def test_unknown_kid_is_401(api, user):
    token = signed(valid_claims(user), kid="not-a-key")
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize("missing", ["sub", "sid", "exp", "iat", "jti"])
def test_token_without_required_claim_is_401(api, user, missing):
    payload = valid_claims(user)
    del payload[missing]
    assert_error(get_self(api, user, **bearer(signed(payload))), 401, "invalid_token")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "Bearer", ""])
def test_malformed_tokens_are_401(api, user, token):
    response = api.get(f"/user/{user.pk}", HTTP_AUTHORIZATION=f"Bearer {token} x")
    assert response.status_code == 401
    assert_error(get_self(api, user, HTTP_BEARER=token or "x"), 401, "invalid_token")


def test_deactivated_users_token_stops_working_at_once(api, user):
    token = tokens_for(user).token
    assert get_self(api, user, **bearer(token)).status_code == 200
    user.state = UserState.DEACTIVATED
    user.save()
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


def test_deleted_users_token_is_401(api, user):
    token = tokens_for(user).token
    user.delete()
    assert api.get("/user/1", **bearer(token)).status_code == 401


def test_authentication_costs_one_query(api, user, django_assert_num_queries):
    headers = bearer(tokens_for(user).token)
    with django_assert_num_queries(1):
        assert get_self(api, user, **headers).status_code == 200


# Every route that takes a JWT, with a body it would accept.
JWT_ROUTES = [
    ("get", "/user/{me}", None),
    ("put", "/user", {"user_id": "{me}", "role": "user"}),
    ("delete", "/user", {"user_id": "{me}"}),
    ("post", "/user/search", {"email": "alice"}),
    ("post", "/logout", None),
    ("post", "/logout/all", None),
    ("get", "/user/sessions", None),
    ("delete", "/user/sessions/00000000-0000-0000-0000-000000000000", None),
    ("put", "/user/data", {"data_id": 1}),
    ("post", "/user/data/search", {}),
    ("get", "/user/data/1", None),
    ("delete", "/user/data/1", None),
    ("post", "/kafka/publish", {"topic": "user.events", "value": 1}),
]


def call(api, user, method, path, body, **headers):
    fill = str(user.pk)
    path = path.replace("{me}", fill)
    if body is not None:
        body = {k: int(fill) if v == "{me}" else v for k, v in body.items()}
    return getattr(api, method)(path, body, format="json", **headers)


@pytest.mark.parametrize(("method", "path", "body"), JWT_ROUTES)
def test_every_jwt_route_refuses_bad_tokens(api, user, method, path, body):
    expired = AccessToken()
    expired.payload |= valid_claims(user) | {"jti": expired["jti"]}
    expired.set_exp(lifetime=-expired.lifetime * 2)
    forged = signed(valid_claims(user), key=ec.generate_private_key(ec.SECP256R1()))
    hmac_token = signed(valid_claims(user), key="x" * 32, algorithm="HS256")
    for token, code in (
        (str(expired), "token_expired"),
        (forged, "invalid_token"),
        (hmac_token, "invalid_token"),
    ):
        assert_error(call(api, user, method, path, body, **bearer(token)), 401, code)
    good = tokens_for(user).token
    user.state = UserState.DEACTIVATED
    user.save()
    assert_error(call(api, user, method, path, body, **bearer(good)), 401, "invalid_token")


@pytest.mark.parametrize(
    "claim", [{"sid": "not-a-uuid"}, {"sub": "not-a-number"}, {"sub": str(2**70)}]
)
def test_validly_signed_token_with_malformed_ids_is_401(api, user, claim):
    token = signed({**valid_claims(user), **claim})
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize(
    "claim",
    [
        {"sid": 123},
        {"sid": ["00000000-0000-0000-0000-000000000000"]},
        {"sid": {"id": 1}},
        {"sid": 1.5},
        {"sub": 1},
        {"sub": ["1"]},
        {"sub": "+1"},
        {"sub": "\u0661"},  # an Arabic-Indic digit one: int() takes it
        {"jti": 7},
        {"token_type": ["access"]},
    ],
)
def test_validly_signed_token_with_wrongly_typed_claims_is_401(api, user, claim):
    token = signed({**valid_claims(user), **claim})
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


def test_a_verified_token_is_taken_from_the_cache_until_it_expires(api, user, monkeypatch):
    expires = int(time.time()) + 2
    token = signed(valid_claims(user) | {"exp": expires})
    assert get_self(api, user, **bearer(token)).status_code == 200
    verified = []
    monkeypatch.setattr(AccessToken, "verify", lambda self: verified.append(self))
    assert get_self(api, user, **bearer(token)).status_code == 200
    assert verified == []  # the second request did not verify it again
    monkeypatch.undo()
    time.sleep(max(0, expires + 0.2 - time.time()))
    assert_error(get_self(api, user, **bearer(token)), 401, "token_expired")


def test_a_cached_token_is_refused_once_its_key_is_no_longer_trusted(api, user, monkeypatch):
    token = tokens_for(user).token
    assert get_self(api, user, **bearer(token)).status_code == 200
    # The key files now hold a ring that no longer trusts the key (as after its retirement).
    monkeypatch.setattr(key_store, "_ring", dataclasses.replace(key_ring(), verifiers={}))
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


def test_a_cached_token_still_sees_its_session_revoked_at_once(api, user):
    token = tokens_for(user).token
    assert get_self(api, user, **bearer(token)).status_code == 200
    Session.objects.update(revoked_at=timezone.now())
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"revoked_at": timezone.now()},
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"user_state": UserState.DEACTIVATED},
    ],
    ids=["live", "revoked", "expired", "user deactivated"],
)
def test_the_session_lookup_agrees_with_live_sessions(user, change):
    """auth.selectors.session_user writes Session.objects.live()'s rule in SQL: the two
    must always answer alike."""
    tokens_for(user)
    session = Session.objects.get(user=user)
    if state := change.pop("user_state", None):
        User.objects.filter(pk=user.pk).update(state=state)
    Session.objects.filter(pk=session.pk).update(**change)
    live = Session.objects.live().filter(pk=session.pk, user__state=UserState.ACTIVE).exists()
    found = session_user(session_id=session.pk, user_id=user.pk)
    assert (found is not None) == live
    if found is not None:
        assert found == user and found.email == user.email and found.password == user.password


def test_a_token_names_its_issuer_and_audience(user, settings):
    issued = claims(tokens_for(user).token)
    assert (issued["iss"], issued["aud"]) == (settings.TOKEN_ISSUER, settings.TOKEN_AUDIENCE)


@pytest.mark.parametrize(
    "claim",
    [
        {"iss": "https://elsewhere.example"},
        {"aud": "another-service"},
        {"aud": ["another-service"]},
        {"iss": None},
        {"aud": None},
    ],
    ids=["foreign issuer", "foreign audience", "foreign audiences", "no issuer", "no audience"],
)
def test_a_token_for_another_issuer_or_audience_is_401(api, user, claim):
    payload = {k: v for k, v in (valid_claims(user) | claim).items() if v is not None}
    assert_error(get_self(api, user, **bearer(signed(payload))), 401, "invalid_token")


def test_an_audience_among_others_is_accepted(api, user, settings):
    token = signed(valid_claims(user) | {"aud": ["another-service", settings.TOKEN_AUDIENCE]})
    assert get_self(api, user, **bearer(token)).status_code == 200


@pytest.mark.parametrize("name", ["TOKEN_ISSUER", "TOKEN_AUDIENCE"])
def test_a_cached_token_is_refused_once_the_service_is_another_issuer_or_audience(
    api, user, settings, name
):
    token = tokens_for(user).token
    assert get_self(api, user, **bearer(token)).status_code == 200
    setattr(settings, name, "https://renamed.example")
    assert_error(get_self(api, user, **bearer(token)), 401, "invalid_token")


def test_the_issuer_is_the_services_url_and_the_audience_the_issuer_by_default():
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.TOKEN_ISSUER, settings.TOKEN_AUDIENCE)"
    )
    environment = {
        k: v for k, v in os.environ.items() if k not in ("TOKEN_ISSUER", "TOKEN_AUDIENCE")
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={
            **environment,
            "DJANGO_SETTINGS_MODULE": "restapi.settings",
            "PUBLIC_BASE_URL": "https://api.example.com/",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["https://api.example.com", "https://api.example.com"]


def test_the_discovery_document_names_the_issuer_keys_and_algorithm(api, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    settings.TOKEN_ISSUER = "https://issuer.example.com"
    response = api.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response.json() == {
        "issuer": "https://issuer.example.com",
        "jwks_uri": "https://api.example.com/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
    }
