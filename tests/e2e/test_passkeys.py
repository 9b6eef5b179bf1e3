"""Passkey ceremonies through the real gunicorn over TLS, with a software authenticator:
registration, the login's second step, the passwordless login, and what is refused (a
wrong origin, a cloned authenticator, someone else's passkey). The relying party is the
server's defaults: its id the host of PUBLIC_BASE_URL, its one origin PUBLIC_BASE_URL."""

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import jwt
import pytest
import requests

from kafka_events.models import OutboxEvent
from mfa.models import Passkey
from tests.fixtures.server import Server
from tests.soft_authenticator import SoftWebauthnDevice

pytestmark = pytest.mark.django_db(transaction=True)

EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def passkey_server(new_server: Callable[..., AbstractContextManager[Server]]) -> Iterator[Server]:
    with new_server(MFA_PASSKEY_LOGIN="1") as server:
        yield server


class Account:
    """A user registered through the server, and an HTTPS session with their token."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.email = f"passkey.{uuid.uuid4().hex[:12]}@example.com"
        self.http = server.session()
        self.use(server.register(self.email))
        token = self.http.headers["Authorization"].split()[1]
        self.user_id = int(jwt.decode(token, options={"verify_signature": False})["sub"])

    def use(self, token: str) -> None:
        self.http.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.server.url + path)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.http.post(self.server.url + path, json=body)

    def register_passkey(
        self, device: SoftWebauthnDevice, origin: str | None = None, name: str = "laptop"
    ) -> requests.Response:
        started = self.post("/user/mfa/passkeys/options")
        assert started.status_code == 200, started.text
        body = started.json()
        credential = device.register(body["options"], origin or self.server.env["PUBLIC_BASE_URL"])
        return self.post(
            "/user/mfa/passkeys",
            {"challenge_token": body["challenge_token"], "credential": credential, "name": name},
        )


def origin_of(server: Server) -> str:
    return server.env["PUBLIC_BASE_URL"]


def amr(response: requests.Response) -> list[str]:
    token = response.json()["token"]
    return list(jwt.decode(token, options={"verify_signature": False})["amr"])


def second_step(
    server: Server, account: Account, device: SoftWebauthnDevice, origin: str | None = None
) -> requests.Response:
    """POST /login with the password, then the passkey's assertion for its options."""
    with server.session() as http:
        first = server.login(account.email, http=http)
        assert first.status_code == 200, first.text
        body = first.json()
        assert "webauthn" in body["methods"]
        assertion = device.sign(body["webauthn"], origin or origin_of(server))
        return http.post(
            f"{server.url}/login/mfa",
            json={"mfa_token": body["mfa_token"], "webauthn": assertion},
        )


def passwordless(
    server: Server, device: SoftWebauthnDevice, origin: str | None = None
) -> tuple[requests.Response, dict[str, Any]]:
    with server.session() as http:
        started = http.post(f"{server.url}/login/passkey/options")
        assert started.status_code == 200, started.text
        options = started.json()
        body = {
            "challenge_token": options["challenge_token"],
            "credential": device.sign(options["options"], origin or origin_of(server)),
        }
        return http.post(f"{server.url}/login/passkey", json=body), body


def events(user_id: int, event_type: str) -> list[dict[str, Any]]:
    """The `data` of the user's events of this type the server wrote (Kafka is on)."""
    rows = OutboxEvent.objects.filter(key=f"user-{user_id}", event_type=event_type)
    return [json.loads(row.value)["data"] for row in rows.order_by("id")]


def test_a_passkey_registered_is_the_second_factor_of_a_login(passkey_server):
    account = Account(passkey_server)
    device = SoftWebauthnDevice()
    created = account.register_passkey(device)
    assert created.status_code == 201, created.text
    passkey = created.json()
    assert passkey["name"] == "laptop" and passkey["transports"] == ["internal"]
    assert [p["passkey_id"] for p in account.get("/user/mfa/passkeys").json()["passkeys"]] == [
        passkey["passkey_id"]
    ]
    added = events(account.user_id, "user.passkey_added")
    assert [(e["passkey_id"], e["name"]) for e in added] == [(passkey["passkey_id"], "laptop")]

    done = second_step(passkey_server, account, device)
    assert done.status_code == 201, done.text
    assert done.json()["user_id"] == account.user_id
    assert amr(done) == ["pwd", "hwk", "mfa"]
    stored = Passkey.objects.get(pk=passkey["passkey_id"])
    assert stored.sign_count == device.sign_count == 1 and stored.last_used_at is not None


def test_a_passkey_alone_logs_in_when_passwordless_login_is_on(passkey_server):
    account = Account(passkey_server)
    device = SoftWebauthnDevice()
    assert account.register_passkey(device).status_code == 201
    done, body = passwordless(passkey_server, device)
    assert done.status_code == 201, done.text
    assert done.json()["user_id"] == account.user_id and done.json()["msg"] == "success"
    assert amr(done) == ["hwk", "user", "mfa"]
    # The session works, and the challenge was used once.
    account.use(done.json()["token"])
    assert account.get(f"/user/{account.user_id}").status_code == 200
    again = passkey_server.session().post(f"{passkey_server.url}/login/passkey", json=body)
    assert again.status_code == 401 and again.json()["code"] == "mfa_token_invalid"


def test_a_wrong_origin_is_refused_at_registration_and_at_login(passkey_server):
    account = Account(passkey_server)
    refused = account.register_passkey(SoftWebauthnDevice(), origin=EVIL)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_mfa_code"
    assert account.get("/user/mfa/passkeys").json()["passkeys"] == []

    device = SoftWebauthnDevice()
    assert account.register_passkey(device).status_code == 201
    second = second_step(passkey_server, account, device, origin=EVIL)
    assert second.status_code == 401 and second.json()["code"] == "mfa_failed"
    alone, _ = passwordless(passkey_server, device, origin=EVIL)
    assert alone.status_code == 401 and alone.json()["code"] == "mfa_failed"
    assert {e["method"] for e in events(account.user_id, "user.login_mfa_failed")} == {"webauthn"}
    # The right origin still works.
    assert second_step(passkey_server, account, device).status_code == 201


def test_a_cloned_authenticator_is_refused_by_its_sign_counter(passkey_server):
    account = Account(passkey_server)
    device = SoftWebauthnDevice()
    assert account.register_passkey(device).status_code == 201
    for _ in range(2):
        assert second_step(passkey_server, account, device).status_code == 201
    clone = device.clone()  # its counter starts again below the stored one
    refused = second_step(passkey_server, account, clone)
    assert refused.status_code == 401 and refused.json()["code"] == "mfa_failed"
    alone, _ = passwordless(passkey_server, clone)
    assert alone.status_code == 401 and alone.json()["code"] == "mfa_failed"
    assert Passkey.objects.get(user_id=account.user_id).sign_count == 2


def test_passkeys_are_renamed_and_deleted_by_their_owner_only(passkey_server):
    owner, other = Account(passkey_server), Account(passkey_server)
    device = SoftWebauthnDevice()
    passkey_id = owner.register_passkey(device).json()["passkey_id"]
    path = f"{passkey_server.url}/user/mfa/passkeys"
    for target in (passkey_id, 2**62):
        renamed = other.http.put(f"{path}/{target}", json={"name": "mine"})
        deleted = other.http.delete(f"{path}/{target}")
        assert (renamed.status_code, renamed.json()["code"]) == (404, "not_found")
        assert (deleted.status_code, deleted.json()["code"]) == (404, "not_found")
    assert Passkey.objects.get(pk=passkey_id).name == "laptop"

    renamed = owner.http.put(f"{path}/{passkey_id}", json={"name": "work laptop"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "work laptop"
    # Removing a factor takes a recent authentication: a login's with the passkey is one.
    owner.use(second_step(passkey_server, owner, device).json()["token"])
    assert owner.http.delete(f"{path}/{passkey_id}").status_code == 204
    assert owner.get("/user/mfa/passkeys").json()["passkeys"] == []
    removed = events(owner.user_id, "user.passkey_removed")
    assert [(e["passkey_id"], e["name"]) for e in removed] == [(passkey_id, "work laptop")]
    # Without a factor, a login needs the password alone again.
    assert passkey_server.login(owner.email).status_code == 201
