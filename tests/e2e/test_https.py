"""Through the real gunicorn over TLS, on the test database."""

import re
import ssl
import threading
import time
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import requests
from django.core.management import call_command

from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_register_login_read_over_https_with_keep_alive(server):
    http = server.session()
    created = http.post(
        f"{server.url}/user", json={"email": "e2e@example.com", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    assert created.headers["Content-Type"] == "application/json"
    login = http.post(
        f"{server.url}/login", json={"email": "E2E@example.com", "password": PASSWORD}
    )
    assert login.status_code == 201
    token, user_id = login.json()["token"], login.json()["user_id"]

    bearer = http.get(f"{server.url}/user/{user_id}", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    assert bearer.headers["Connection"].lower() == "keep-alive"
    # The seed's clients send the raw JWT in a header named TOKEN_HEADER ("Bearer").
    seed = http.get(f"{server.url}/user/{user_id}", headers={"Bearer": token})
    assert seed.status_code == 200
    assert seed.json()["email"] == "e2e@example.com"
    missing = http.get(f"{server.url}/user/{user_id}")
    assert missing.status_code == 401
    assert missing.json()["code"] == "not_authenticated"

    # Logout is seen at once by every worker: new connections spread over both.
    assert (
        http.post(f"{server.url}/logout", headers={"Authorization": f"Bearer {token}"}).status_code
        == 204
    )
    for _ in range(6):
        after = requests.get(
            f"{server.url}/user/{user_id}",
            headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            verify=str(server.ca),
            timeout=10,
        )
        assert after.status_code == 401


def test_certificate_is_verified_against_the_ca(server):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/user/1", timeout=5)


def test_plain_http_is_not_served(server):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url.replace("https://", "http://") + "/user/1", timeout=5)


def test_simultaneous_registrations_through_the_server_make_one_account(server):
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def attempt(i):
        http = server.session()
        barrier.wait()
        email = "race@example.com" if i % 2 else "RACE@Example.com"
        statuses.append(
            http.post(f"{server.url}/user", json={"email": email, "password": PASSWORD}).status_code
        )

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7


def test_jwks_verifies_tokens_with_pyjwt(server):
    http = server.session()
    credentials = {"email": "jwks@example.com", "password": PASSWORD}
    token = http.post(f"{server.url}/user", json=credentials).json()["token"]
    client = jwt.PyJWKClient(
        f"{server.url}/.well-known/jwks.json",
        ssl_context=ssl.create_default_context(cafile=str(server.ca)),
    )
    key = client.get_signing_key_from_jwt(token)
    verified = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        issuer=server.env["TOKEN_ISSUER"],
        audience=server.env["TOKEN_AUDIENCE"],
    )
    assert verified["email"] == "jwks@example.com"


def test_fifty_parallel_wrong_passwords_evaluate_five_hashes(server):
    http = server.session()
    credentials = {"email": "target@example.com", "password": PASSWORD}
    assert http.post(f"{server.url}/user", json=credentials).status_code == 201
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def guess(i):
        session = server.session()
        barrier.wait()
        body = {"email": "target@example.com", "password": f"guess number {i}"}
        statuses.append(session.post(f"{server.url}/login", json=body).status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every evaluated guess is a 401; every refused one a 429 without hashing.
    assert statuses.count(401) == 5
    assert statuses.count(429) == 45


def test_key_rotation_reaches_running_workers_without_restart(server):
    http = server.session()
    credentials = {"email": "rotate@example.com", "password": PASSWORD}
    old = http.post(f"{server.url}/user", json=credentials).json()
    call_command("rotate_jwt_keys")
    old_kid = jwt.get_unverified_header(old["token"])["kid"]
    deadline = time.monotonic() + 10
    while True:
        new = http.post(f"{server.url}/login", json=credentials).json()
        if jwt.get_unverified_header(new["token"])["kid"] != old_kid:
            break
        assert time.monotonic() < deadline, "the workers kept signing with the old key"
        time.sleep(0.2)
    kids = {key["kid"] for key in http.get(f"{server.url}/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, jwt.get_unverified_header(new["token"])["kid"]} <= kids
    for token in (old["token"], new["token"]):
        headers = {"Authorization": f"Bearer {token}"}
        assert http.get(f"{server.url}/user/{old['user_id']}", headers=headers).status_code == 200


def mail_to(server, address, timeout=10):
    """The message the server's file backend wrote for this address."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in server.mail_dir.glob("*.log"):
            text = path.read_text()
            if f"To: {address}" in text:
                return text
        time.sleep(0.1)
    raise AssertionError(f"no email to {address}")


def test_verification_email_link_works_over_https_and_stays_out_of_logs(server):
    http = server.session()
    credentials = {"email": "mailfile@example.com", "password": PASSWORD}
    created = http.post(f"{server.url}/user", json=credentials)
    assert created.status_code == 201
    message = mail_to(server, "mailfile@example.com")
    link = re.search(rf"{re.escape(server.url)}/user/verify\?\S+", message).group(0)
    token = parse_qs(urlparse(link).query)["t"][0]
    verified = http.get(link)
    assert verified.status_code == 200
    assert verified.json()["verified"] == 1
    assert http.get(link).status_code == 400
    assert token not in created.text + verified.text
    log = server.log_after('"path": "/user/verify"')
    assert token not in log
