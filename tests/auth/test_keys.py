import io
import os
import time

import jwt
import pytest
from django.core.management import CommandError, call_command

from auth.keys import key_ring, key_store, write_key_pair
from restapi.commands import EXIT_FAILED
from tests.helpers import assert_error, client_for, tokens_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def key_dir(tmp_path, settings):
    """A key directory of the test's own, so rotation does not touch the session's keys."""
    settings.SERVER_PKI_DIR_JWT = tmp_path
    settings.TOKEN_ALGO_PRIVATE_KEY = tmp_path / "private-key-pkcs8.pem"
    settings.TOKEN_ALGO_PUBLIC_KEY = tmp_path / "public-key.pem"
    call_command("generate_jwt_keys")
    key_store.reset()
    yield tmp_path
    key_store.reset()


def kid_of(token):
    return jwt.get_unverified_header(token)["kid"]


def jwks(api):
    response = api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=60"
    return {key["kid"]: key for key in response.json()["keys"]}


def test_jwks_publishes_the_signing_key(api, user, settings):
    token = tokens_for(user).token
    keys = jwks(api)
    assert set(keys) == {kid_of(token)}
    key = keys[kid_of(token)]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key
    public = jwt.PyJWK(key).key
    verified = jwt.decode(
        token,
        public,
        algorithms=["ES256"],
        issuer=settings.TOKEN_ISSUER,
        audience=settings.TOKEN_AUDIENCE,
    )
    assert verified["sub"] == str(user.pk)


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(api, user, key_dir):
    old = tokens_for(user).token
    call_command("rotate_jwt_keys")
    # The change is seen without a restart (the stat check runs at most once a second).
    key_store.ring(recheck=True)
    new = tokens_for(user).token
    assert kid_of(new) != kid_of(old)
    assert set(jwks(api)) == {kid_of(old), kid_of(new)}
    for token in (old, new):
        assert api.get(f"/user/{user.pk}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert (key_dir / "previous" / f"{kid_of(old)}.pem").exists()


def test_unknown_kid_makes_the_process_look_again(api, user, key_dir):
    key_ring()
    old = tokens_for(user).token
    call_command("rotate_jwt_keys")
    # Another process signs with the new key before this one noticed the rotation.
    new_ring = key_store.__class__().ring()
    token = jwt.encode(
        jwt.decode(old, options={"verify_signature": False}),
        new_ring.signer.private_key,
        algorithm="ES256",
        headers={"kid": new_ring.signer.kid},
    )
    assert api.get(f"/user/{user.pk}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_retire_drops_only_keys_no_token_can_need(api, user, key_dir, settings):
    first = tokens_for(user).token
    call_command("rotate_jwt_keys")
    key_store.ring(recheck=True)
    second = tokens_for(user).token
    call_command("rotate_jwt_keys")
    aged = key_dir / "previous" / f"{kid_of(first)}.pem"
    long_ago = time.time() - settings.TOKEN_EXPIRATION_SECONDS_INTO_FUTURE - 120
    os.utime(aged, (long_ago, long_ago))
    call_command("rotate_jwt_keys", retire=True)
    key_store.ring(recheck=True)
    assert not aged.exists()
    assert set(jwks(api)) == {kid_of(second), key_ring().signer.kid}
    assert_error(
        api.get(f"/user/{user.pk}", HTTP_AUTHORIZATION=f"Bearer {first}"), 401, "invalid_token"
    )
    assert api.get(f"/user/{user.pk}", HTTP_AUTHORIZATION=f"Bearer {second}").status_code == 200


def test_staged_key_verifies_first_and_signs_after_promotion(api, user, key_dir):
    call_command("rotate_jwt_keys", stage=True)
    key_store.ring(recheck=True)
    staged = set(jwks(api)) - {key_ring().signer.kid}
    assert len(staged) == 1
    call_command("rotate_jwt_keys")
    key_store.ring(recheck=True)
    assert key_ring().signer.kid == staged.pop()
    assert not (key_dir / "next").exists()
    assert client_for(user).get(f"/user/{user.pk}").status_code == 200


def test_half_written_rotation_keeps_the_old_keys(user, key_dir):
    signer = key_ring().signer.kid
    (key_dir / "public-key.pem").write_text("not a key")
    assert key_store.ring(recheck=True).signer.kid == signer


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "public-key.pem").unlink(), "Cannot read the JWT public key"),
        (lambda d: (d / "private-key-pkcs8.pem").unlink(), "Cannot read the JWT private key"),
        (lambda d: (d / "public-key.pem").write_text("not a key"), "public-key.pem is not a PEM"),
        (
            lambda d: (d / "private-key-pkcs8.pem").write_text("-----BEGIN PRIVATE KEY-----\n"),
            "private-key-pkcs8.pem is not a PEM",
        ),
    ],
)
def test_rotation_refuses_a_pair_that_does_not_load_and_writes_nothing(key_dir, damage, message):
    damage(key_dir)
    before = sorted(p.name for p in key_dir.rglob("*"))
    with pytest.raises(CommandError, match=message) as refused:
        call_command("rotate_jwt_keys")
    assert "\n" not in str(refused.value) and refused.value.returncode == EXIT_FAILED
    assert sorted(p.name for p in key_dir.rglob("*")) == before


def test_rotation_refuses_a_public_key_of_another_pair(key_dir, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    write_key_pair(other / "private.pem", other / "public.pem", dev=True)
    (key_dir / "public-key.pem").write_bytes((other / "public.pem").read_bytes())
    with pytest.raises(CommandError, match="is not the public half of"):
        call_command("rotate_jwt_keys")
    assert not (key_dir / "previous").exists()


def test_staging_twice_keeps_the_key_replicas_may_already_trust(key_dir):
    call_command("rotate_jwt_keys", stage=True)
    staged = (key_dir / "next" / "public-key.pem").read_bytes()
    with pytest.raises(CommandError, match="is staged already: rotate to promote it"):
        call_command("rotate_jwt_keys", stage=True)
    assert (key_dir / "next" / "public-key.pem").read_bytes() == staged


def test_rotation_says_what_it_did(key_dir):
    out = io.StringIO()
    old = key_ring().signer.kid
    call_command("rotate_jwt_keys", stdout=out)
    new = key_store.ring(recheck=True).signer.kid
    assert out.getvalue() == f"Signing with {new}; {old} verifies until its tokens expire\n"
    out = io.StringIO()
    call_command("rotate_jwt_keys", retire=True, stdout=out)
    assert out.getvalue() == "0 keys retired, 1 still verifying\n"
    with pytest.raises(CommandError, match="--retire: not allowed with argument --stage"):
        call_command("rotate_jwt_keys", "--stage", "--retire")


def test_generate_refuses_to_replace_keys_unless_forced(key_dir):
    before = (key_dir / "private-key-pkcs8.pem").read_bytes()
    with pytest.raises(CommandError, match="exists; pass --force to replace it"):
        call_command("generate_jwt_keys")
    out = io.StringIO()
    call_command("generate_jwt_keys", "--if-missing", stdout=out)
    assert out.getvalue().startswith("Kept the existing key pair at ")
    assert (key_dir / "private-key-pkcs8.pem").read_bytes() == before
    call_command("generate_jwt_keys", "--force", stdout=out)
    assert (key_dir / "private-key-pkcs8.pem").read_bytes() != before


def test_a_key_knows_when_it_was_made_whatever_its_file_time(key_dir, settings):
    made = key_ring().signer.created
    assert time.time() - 60 < made <= time.time()
    # A mounted Secret's files carry the time they were mounted.
    os.utime(settings.TOKEN_ALGO_PRIVATE_KEY, (time.time() + 86400, time.time() + 86400))
    key_store.reset()
    assert key_ring().signer.created == made


def test_a_key_made_elsewhere_is_as_old_as_its_file(key_dir, settings):
    path = settings.TOKEN_ALGO_PRIVATE_KEY
    # As OpenSSL writes it: the PEM block alone.
    path.write_bytes(path.read_bytes().split(b"\n", 1)[1])
    os.utime(path, (1_700_000_000, 1_700_000_000))
    key_store.reset()
    assert key_ring().signer.created == 1_700_000_000
