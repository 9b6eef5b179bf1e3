"""Passkeys in process: the routes' shapes, ownership, step-up, events and the
passwordless login's rules (issue 16). The ceremonies through the real server are in
tests/e2e/test_passkeys.py."""

import time

import pytest
from django.conf import settings as django_settings

from kafka_events.models import OutboxEvent
from mfa.models import Challenge, ChallengePurpose, Passkey, RecoveryCode, Totp
from mfa.passkeys import user_handle
from tests.helpers import assert_error, assert_status, client_for, counted, login
from tests.soft_authenticator import SoftWebauthnDevice
from users.models import User

pytestmark = pytest.mark.django_db

ORIGIN = django_settings.WEBAUTHN_ORIGINS[0]
PASSKEY_FIELDS = {"passkey_id", "name", "created_at", "last_used_at", "transports"}


def register(client, device: SoftWebauthnDevice, **extra) -> dict:
    started = assert_status(client.post("/user/mfa/passkeys/options"), 200)
    credential = device.register(started["options"], ORIGIN)
    body = {"challenge_token": started["challenge_token"], "credential": credential, **extra}
    return assert_status(client.post("/user/mfa/passkeys", body, format="json"), 201)


def a_passkey(user: User, name: str = "laptop") -> Passkey:
    """A stored passkey (no key behind it): for the routes that never check one."""
    return Passkey.objects.create(
        user=user, credential_id=f"{user.pk}-{name}".encode(), public_key=b"k", name=name
    )


def event_types(user: User) -> list[str]:
    rows = OutboxEvent.objects.filter(key=f"user-{user.pk}").order_by("id")
    return [row.event_type for row in rows]


def test_registration_options_name_the_relying_party_and_the_user(user):
    body = assert_status(client_for(user).post("/user/mfa/passkeys/options"), 200)
    options = body["options"]
    assert options["rp"] == {
        "id": django_settings.WEBAUTHN_RP_ID,
        "name": django_settings.WEBAUTHN_RP_NAME,
    }
    assert options["user"]["name"] == user.email
    # The user handle is opaque: neither the id nor the address.
    assert options["user"]["id"] not in (str(user.pk), user.email)
    assert Challenge.objects.get().purpose == ChallengePurpose.PASSKEY_REGISTER


def test_a_registered_passkey_is_listed_renamed_and_deleted(user, kafka):
    client = client_for(user)
    created = register(client, SoftWebauthnDevice(), name="my phone")
    assert set(created) == PASSKEY_FIELDS | {"msg"}
    assert created["name"] == "my phone" and created["transports"] == ["internal"]
    assert created["last_used_at"] is None
    listed = assert_status(client.get("/user/mfa/passkeys"), 200)
    assert listed["passkeys"] == [{k: created[k] for k in PASSKEY_FIELDS}]
    path = f"/user/mfa/passkeys/{created['passkey_id']}"
    renamed = assert_status(client.put(path, {"name": "old phone"}, format="json"), 200)
    assert renamed["name"] == "old phone" and renamed["passkey_id"] == created["passkey_id"]
    assert client.delete(path).status_code == 204
    assert assert_status(client.get("/user/mfa/passkeys"), 200)["passkeys"] == []
    assert event_types(user).count("user.passkey_added") == 1
    assert event_types(user).count("user.passkey_removed") == 1
    assert_error(client.delete(path), 404, "not_found")


def test_the_name_defaults_and_is_bounded(user):
    client = client_for(user)
    assert register(client, SoftWebauthnDevice())["name"] == "passkey"
    path = f"/user/mfa/passkeys/{a_passkey(user).pk}"
    for name in ("", "x" * 65, 7):
        assert_error(client.put(path, {"name": name}, format="json"), 400, "validation_error")
    assert client.put(path, {"name": "x" * 64}, format="json").status_code == 200


def test_a_registration_challenge_is_the_users_and_used_once(user, other_user):
    client = client_for(user)
    started = assert_status(client.post("/user/mfa/passkeys/options"), 200)
    credential = SoftWebauthnDevice().register(started["options"], ORIGIN)
    body = {"challenge_token": started["challenge_token"], "credential": credential}
    theirs = client_for(other_user).post("/user/mfa/passkeys", body, format="json")
    assert_error(theirs, 401, "mfa_token_invalid")
    assert client.post("/user/mfa/passkeys", body, format="json").status_code == 201
    again = client.post("/user/mfa/passkeys", body, format="json")
    assert_error(again, 401, "mfa_token_invalid")
    assert Passkey.objects.filter(user=user).count() == 1


def test_another_users_passkey_is_a_404_as_a_missing_one_and_stays(user, other_user):
    theirs = a_passkey(other_user)
    client = client_for(user)
    for method, body in (("put", {"name": "mine"}), ("delete", None)):
        hidden = getattr(client, method)(f"/user/mfa/passkeys/{theirs.pk}", body, format="json")
        missing = getattr(client, method)(f"/user/mfa/passkeys/{2**62}", body, format="json")
        assert_error(hidden, 404, "not_found")
        assert hidden.content == missing.content
    theirs.refresh_from_db()
    assert theirs.name == "laptop"
    listed = client_for(other_user).get("/user/mfa/passkeys").json()["passkeys"]
    assert [passkey["passkey_id"] for passkey in listed] == [theirs.pk]


def test_deleting_a_passkey_needs_a_recent_authentication(user, settings):
    passkey = a_passkey(user)
    client = client_for(user)
    settings.MFA_STEP_UP_SECONDS = 0
    time.sleep(1.1)
    assert_error(client.delete(f"/user/mfa/passkeys/{passkey.pk}"), 401, "step_up_required")
    assert Passkey.objects.filter(pk=passkey.pk).exists()
    # Renaming changes no factor: no step-up.
    renamed = client.put(f"/user/mfa/passkeys/{passkey.pk}", {"name": "n"}, format="json")
    assert renamed.status_code == 200
    settings.MFA_STEP_UP_SECONDS = 600
    assert client.delete(f"/user/mfa/passkeys/{passkey.pk}").status_code == 204


def test_adding_a_factor_needs_a_recent_authentication(user, settings):
    """A stolen refresh token (its tokens keep the login's auth_time) adds no factor."""
    client = client_for(user)
    settings.MFA_STEP_UP_SECONDS = 0
    time.sleep(1.1)
    assert_error(client.post("/user/mfa/passkeys/options"), 401, "step_up_required")
    assert_error(client.post("/user/mfa/totp"), 401, "step_up_required")
    assert not Challenge.objects.exists()
    assert not Totp.objects.filter(user_id=user.pk).exists()
    settings.MFA_STEP_UP_SECONDS = 600
    assert client.post("/user/mfa/passkeys/options").status_code == 200
    assert client.post("/user/mfa/totp").status_code == 201


def test_the_last_factor_takes_the_recovery_codes_with_it(user):
    first, second = a_passkey(user, "one"), a_passkey(user, "two")
    RecoveryCode.objects.create(user=user, code_hash="h")
    client = client_for(user)
    assert client.delete(f"/user/mfa/passkeys/{first.pk}").status_code == 204
    assert RecoveryCode.objects.filter(user=user).exists()
    assert client.delete(f"/user/mfa/passkeys/{second.pk}").status_code == 204
    assert not RecoveryCode.objects.filter(user=user).exists()


def test_the_factors_count_the_passkeys(user):
    a_passkey(user)
    body = assert_status(client_for(user).get("/user/mfa"), 200)
    assert body["passkeys"] == 1 and "webauthn" in body["methods"]


def test_passwordless_login_is_an_unknown_route_while_off(api, settings):
    settings.MFA_PASSKEY_LOGIN = False
    unknown = api.post("/login/nothing-here", {}, format="json")
    for path, body in (("/login/passkey/options", None), ("/login/passkey", "{")):
        response = api.generic("POST", path, body or "", "application/json")
        assert_error(response, 404, "not_found")
        assert response.json() == unknown.json()
    assert not Challenge.objects.exists()


def test_passwordless_options_ask_for_a_verified_discoverable_credential(api, settings):
    settings.MFA_PASSKEY_LOGIN = True
    body = assert_status(api.post("/login/passkey/options"), 200)
    assert body["options"]["allowCredentials"] == []
    assert body["options"]["userVerification"] == "required"
    assert body["options"]["rpId"] == django_settings.WEBAUTHN_RP_ID
    challenge = Challenge.objects.get()
    assert challenge.purpose == ChallengePurpose.PASSKEY_LOGIN and challenge.user is None


def passwordless(api, device: SoftWebauthnDevice, origin: str = ORIGIN):
    started = assert_status(api.post("/login/passkey/options"), 200)
    body = {
        "challenge_token": started["challenge_token"],
        "credential": device.sign(started["options"], origin),
    }
    return api.post("/login/passkey", body, format="json"), body


def test_a_refused_passwordless_assertion_counts_for_its_owner(api, user, settings, kafka):
    settings.MFA_PASSKEY_LOGIN = True
    device = SoftWebauthnDevice(user_verified=False)
    register(client_for(user), device)
    failures = counted("restapi_second_factor_checks_total", method="webauthn", outcome="failure")
    response, body = passwordless(api, device)
    assert_error(response, 401, "mfa_failed")
    assert (
        counted("restapi_second_factor_checks_total", method="webauthn", outcome="failure")
        == failures + 1
    )
    assert "user.login_mfa_failed" in event_types(user)
    # The challenge went with the try.
    again = api.post("/login/passkey", body, format="json")
    assert_error(again, 401, "mfa_token_invalid")


def test_an_unknown_credential_is_refused_and_counted_nowhere(api, settings):
    settings.MFA_PASSKEY_LOGIN = True
    device = SoftWebauthnDevice()
    device.create(
        {
            "publicKey": {
                "pubKeyCredParams": [{"alg": -7, "type": "public-key"}],
                "rp": {"id": django_settings.WEBAUTHN_RP_ID},
                "user": {"id": b"nobody"},
                "challenge": b"c",
            }
        },
        ORIGIN,
    )
    failures = counted("restapi_second_factor_checks_total", method="webauthn", outcome="failure")
    response, _ = passwordless(api, device)
    assert_error(response, 401, "mfa_failed")
    assert (
        counted("restapi_second_factor_checks_total", method="webauthn", outcome="failure")
        == failures
    )


def test_passwordless_login_takes_the_clients_login_bucket(api, settings):
    settings.MFA_PASSKEY_LOGIN = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": "1/3600"}
    assert api.post("/login/passkey/options").status_code == 200
    assert_error(api.post("/login/passkey/options"), 429, "rate_limited")
    body = {"challenge_token": "x.y", "credential": {}}
    assert_error(api.post("/login/passkey", body, format="json"), 429, "rate_limited")


def test_another_users_passkey_completes_no_login(api, user, other_user):
    """B's authenticator signs whatever challenge A's login shows: the credential must be
    A's own for A's second step."""
    mine, theirs = SoftWebauthnDevice(), SoftWebauthnDevice()
    register(client_for(user), mine)
    register(client_for(other_user), theirs)
    first = assert_status(login(api, user.email), 200)
    # A client may ignore allowCredentials, and B's device sign A's challenge.
    unlisted = {**first["webauthn"], "allowCredentials": []}
    body = {"mfa_token": first["mfa_token"], "webauthn": theirs.sign(unlisted, ORIGIN)}
    assert_error(api.post("/login/mfa", body, format="json"), 401, "mfa_failed")
    assert Passkey.objects.get(user=other_user).sign_count == 0
    again = assert_status(login(api, user.email), 200)
    body = {"mfa_token": again["mfa_token"], "webauthn": mine.sign(again["webauthn"], ORIGIN)}
    assert api.post("/login/mfa", body, format="json").status_code == 201


def test_a_passwordless_login_refuses_a_user_handle_not_the_credentials(
    api, user, other_user, settings
):
    settings.MFA_PASSKEY_LOGIN = True
    device = SoftWebauthnDevice()
    register(client_for(user), device)
    device.user_handle = user_handle(other_user.pk)  # signed, but names someone else
    response, _ = passwordless(api, device)
    assert_error(response, 401, "mfa_failed")
