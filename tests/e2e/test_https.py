"""Through the real gunicorn over TLS, on the test database."""

import threading

import pytest
import requests

from tests.conftest import PASSWORD

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
