"""TOTP enrolment, the login's second step and step-up, with codes computed by pyotp from
the secret the service returned (issue 16)."""

import time
import uuid

import pyotp
import pytest

from auth.models import Session
from kafka_events.models import OutboxEvent
from mfa.models import RecoveryCode, Totp
from tests.helpers import PASSWORD, assert_error, claims, client_for, login
from users.models import User

pytestmark = pytest.mark.django_db


def steady_now() -> float:
    """Now, at least 3 s before the next 30 s step: a code computed here is checked in
    the same step."""
    now = time.time()
    if now % 30 > 27:
        time.sleep(30 - now % 30 + 0.1)
        now = time.time()
    return now


def code_at(secret: str, when: float) -> str:
    return pyotp.TOTP(secret).at(when)


def enrol(client) -> str:
    response = client.post("/user/mfa/totp")
    assert response.status_code == 201, response.content
    return response.json()["secret"]


def enrolled(user: User) -> tuple[str, list[str]]:
    """The user with an active TOTP: its secret and recovery codes. The first code is the
    previous step's, so this step's and the next are still unused."""
    client = client_for(user)
    secret = enrol(client)
    now = steady_now()
    response = client.post(
        "/user/mfa/totp/confirm", {"code": code_at(secret, now - 30)}, format="json"
    )
    assert response.status_code == 200, response.content
    return secret, response.json()["recovery_codes"]


def second_step(api, user: User, **factor):
    first = login(api, user.email)
    assert first.status_code == 200, first.content
    return api.post("/login/mfa", {"mfa_token": first.json()["mfa_token"], **factor}, format="json")


def event_types(user: User) -> list[str]:
    rows = OutboxEvent.objects.filter(key=f"user-{user.pk}").order_by("id")
    return [row.event_type for row in rows]


def test_enrolment_returns_the_secret_its_uri_and_a_qr_code(user, settings):
    settings.MFA_ISSUER = "Example Corp"
    body = client_for(user).post("/user/mfa/totp").json()
    totp = pyotp.parse_uri(body["otpauth_uri"])
    assert totp.secret == body["secret"] and totp.issuer == "Example Corp"
    assert totp.name == user.email and totp.digits == 6 and totp.interval == 30
    assert (
        body["qr_svg"].startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in body["qr_svg"]
    )
    # Pending until confirmed: a login still needs the password only.
    assert login(client_for(user), user.email).status_code == 201


def test_the_secret_is_stored_encrypted(user):
    secret = enrol(client_for(user))
    stored = Totp.objects.get(user=user).secret
    assert secret not in stored and len(stored) > 80


def test_confirming_activates_it_and_shows_ten_recovery_codes_once(user, kafka):
    _, codes = enrolled(user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code.replace("-", "")) == 16 for code in codes)
    # Stored hashed: no code appears in the table.
    hashes = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(hashes) == 10 and not {c.replace("-", "") for c in codes} & set(hashes)
    assert "user.mfa_enabled" in event_types(user)
    assert client_for(user).post("/user/mfa/totp").status_code == 409


def test_a_wrong_confirmation_code_activates_nothing(user):
    client = client_for(user)
    secret = enrol(client)
    now = steady_now()
    wrong = "000000" if code_at(secret, now) != "000000" else "111111"
    assert_error(
        client.post("/user/mfa/totp/confirm", {"code": wrong}, format="json"),
        400,
        "invalid_mfa_code",
    )
    assert Totp.objects.get(user=user).confirmed_at is None
    assert not RecoveryCode.objects.filter(user=user).exists()


def test_login_needs_the_second_step_and_gets_tokens_with_amr(api, user):
    secret, _ = enrolled(user)
    first = login(api, user.email)
    assert first.status_code == 200
    body = first.json()
    assert body["mfa_required"] is True and "token" not in body and "refresh" not in body
    assert body["methods"] == ["totp", "recovery_code"]
    sessions_before = Session.objects.count()
    done = api.post(
        "/login/mfa",
        {"mfa_token": body["mfa_token"], "code": code_at(secret, steady_now())},
        format="json",
    )
    assert done.status_code == 201, done.content
    token = claims(done.json()["token"])
    assert token["amr"] == ["pwd", "otp", "mfa"]
    assert abs(token["auth_time"] - time.time()) < 5
    assert Session.objects.count() == sessions_before + 1


def test_a_used_code_is_refused_again(api, user):
    secret, _ = enrolled(user)
    code = code_at(secret, steady_now())
    assert second_step(api, user, code=code).status_code == 201
    assert_error(second_step(api, user, code=code), 401, "mfa_failed")
    # And a code of an earlier step than the last accepted one.
    assert_error(second_step(api, user, code=code_at(secret, time.time() - 30)), 401, "mfa_failed")


@pytest.mark.parametrize("steps", [-1, 1])
def test_one_step_of_clock_drift_is_accepted(user, steps):
    client = client_for(user)
    secret = enrol(client)
    now = steady_now()
    response = client.post(
        "/user/mfa/totp/confirm", {"code": code_at(secret, now + 30 * steps)}, format="json"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("steps", [-2, 2])
def test_two_steps_of_clock_drift_are_refused(user, steps):
    client = client_for(user)
    secret = enrol(client)
    now = steady_now()
    response = client.post(
        "/user/mfa/totp/confirm", {"code": code_at(secret, now + 30 * steps)}, format="json"
    )
    assert_error(response, 400, "invalid_mfa_code")


def test_a_recovery_code_works_once(api, user, kafka):
    _, codes = enrolled(user)
    done = second_step(api, user, recovery_code=codes[0])
    assert done.status_code == 201
    assert claims(done.json()["token"])["amr"] == ["pwd", "otp", "mfa"]
    assert "user.mfa_recovery_used" in event_types(user)
    assert_error(second_step(api, user, recovery_code=codes[0]), 401, "mfa_failed")
    # As typed, without dashes and in lower case, another one works.
    assert (
        second_step(api, user, recovery_code=codes[1].replace("-", "").lower()).status_code == 201
    )


def test_the_mfa_token_is_single_use(api, user):
    secret, _ = enrolled(user)
    token = login(api, user.email).json()["mfa_token"]
    now = steady_now()
    first = api.post(
        "/login/mfa", {"mfa_token": token, "code": code_at(secret, now)}, format="json"
    )
    assert first.status_code == 201
    again = api.post(
        "/login/mfa", {"mfa_token": token, "code": code_at(secret, now + 30)}, format="json"
    )
    assert_error(again, 401, "mfa_token_invalid")


def test_an_expired_or_forged_mfa_token_is_refused(api, user, settings):
    secret, _ = enrolled(user)
    token = login(api, user.email).json()["mfa_token"]
    from mfa.models import Challenge

    Challenge.objects.update(expires_at=Challenge.objects.get().created_at)
    body = {"mfa_token": token, "code": code_at(secret, steady_now())}
    assert_error(api.post("/login/mfa", body, format="json"), 401, "mfa_token_invalid")
    for forged in ("nonsense", f"{uuid.uuid4().hex}.secret", token.split(".")[0] + ".wrong"):
        body["mfa_token"] = forged
        assert_error(api.post("/login/mfa", body, format="json"), 401, "mfa_token_invalid")


def test_the_second_step_takes_exactly_one_factor(api, user):
    enrolled(user)
    token = login(api, user.email).json()["mfa_token"]
    for body in (
        {"mfa_token": token},
        {"mfa_token": token, "code": "123456", "recovery_code": "x"},
    ):
        assert_error(api.post("/login/mfa", body, format="json"), 400, "validation_error")


def test_wrong_codes_count_toward_the_password_backoff(api, user, settings, kafka):
    settings.LOGIN_FREE_FAILURES = 2
    secret, _ = enrolled(user)
    token = login(api, user.email).json()["mfa_token"]
    wrong = "000000" if code_at(secret, steady_now()) != "000000" else "111111"
    for _ in range(2):
        body = {"mfa_token": token, "code": wrong}
        assert_error(api.post("/login/mfa", body, format="json"), 401, "mfa_failed")
    # The account now waits, for a right code and for a password alike.
    right = {"mfa_token": token, "code": code_at(secret, steady_now())}
    assert_error(api.post("/login/mfa", right, format="json"), 429, "rate_limited")
    assert_error(login(api, user.email), 429, "rate_limited")
    assert event_types(user).count("user.login_mfa_failed") == 2


def test_step_up_refuses_an_old_authentication_and_accepts_a_fresh_one(api, user, settings):
    secret, _ = enrolled(user)
    done = second_step(api, user, code=code_at(secret, steady_now()))
    client = client_for(user, token=done.json()["token"])
    change = {"user_id": user.pk, "password": "a new password 123", "current_password": PASSWORD}
    settings.MFA_STEP_UP_SECONDS = 0
    time.sleep(1.1)
    assert_error(client.put("/user", change, format="json"), 401, "step_up_required")
    assert_error(client.post("/user/mfa/recovery-codes"), 401, "step_up_required")
    assert_error(
        client.delete("/user/mfa/totp", {"code": "123456"}, format="json"), 401, "step_up_required"
    )
    assert_error(
        client.delete("/user", {"user_id": user.pk}, format="json"), 401, "step_up_required"
    )
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and user.is_active
    settings.MFA_STEP_UP_SECONDS = 600
    assert client.post("/user/mfa/recovery-codes").status_code == 200
    assert client.put("/user", change, format="json").status_code == 200


def test_a_user_without_a_factor_needs_no_step_up(user, settings):
    settings.MFA_STEP_UP_SECONDS = 0
    client = client_for(user)
    change = {"user_id": user.pk, "password": "a new password 123", "current_password": PASSWORD}
    assert client.put("/user", change, format="json").status_code == 200


def test_new_recovery_codes_replace_the_old_ones(api, user):
    secret, old = enrolled(user)
    done = second_step(api, user, code=code_at(secret, steady_now()))
    client = client_for(user, token=done.json()["token"])
    new = client.post("/user/mfa/recovery-codes").json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert_error(second_step(api, user, recovery_code=old[2]), 401, "mfa_failed")
    assert second_step(api, user, recovery_code=new[0]).status_code == 201


def test_disabling_needs_a_code_and_revokes_every_other_session(api, user, kafka):
    secret, codes = enrolled(user)
    other = second_step(api, user, recovery_code=codes[0]).json()["token"]
    done = second_step(api, user, code=code_at(secret, steady_now()))
    client = client_for(user, token=done.json()["token"])
    wrong = {"code": "000000" if code_at(secret, time.time() + 30) != "000000" else "111111"}
    assert_error(client.delete("/user/mfa/totp", wrong, format="json"), 400, "invalid_mfa_code")
    assert (
        client.delete("/user/mfa/totp", {"recovery_code": codes[1]}, format="json").status_code
        == 204
    )
    assert not Totp.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert client_for(user, token=other).get(f"/user/{user.pk}").status_code == 401
    assert client.get(f"/user/{user.pk}").status_code == 200
    assert "user.mfa_disabled" in event_types(user)
    assert login(api, user.email).status_code == 201


def test_an_operator_resets_the_factors(api, user):
    from django.core.management import call_command

    enrolled(user)
    call_command("mfa_reset", user.email.upper())
    assert not Totp.objects.filter(user=user).exists()
    assert not Session.objects.filter(user=user, revoked_at=None).exists()
    assert login(api, user.email).status_code == 201


def test_admin_tokens_need_a_factor_when_required(api, admin, user, settings):
    settings.MFA_REQUIRED_FOR_ADMINS = True
    plain = login(api, admin.email)
    assert plain.status_code == 201
    assert claims(plain.json()["token"])["role"] == "user"
    client = client_for(admin, token=plain.json()["token"])
    # It acts as a user: only itself, no admin route.
    found = client.post("/user/search", {"email": "example"}, format="json").json()["users"]
    assert [item["user_id"] for item in found] == [admin.pk]
    assert client.get(f"/user/{user.pk}").status_code == 404
    message = {"topic": settings.KAFKA_USER_EVENTS_TOPIC, "value": {}}
    assert_error(client.post("/kafka/publish", message, format="json"), 403, "permission_denied")
    # It may set up its factor, and then log in as an admin.
    secret = enrol(client)
    now = steady_now()
    assert (
        client.post(
            "/user/mfa/totp/confirm", {"code": code_at(secret, now - 30)}, format="json"
        ).status_code
        == 200
    )
    done = second_step(api, admin, code=code_at(secret, now))
    assert claims(done.json()["token"])["role"] == "admin"


def test_a_refresh_keeps_the_logins_amr_auth_time_and_limited_role(api, admin, settings):
    """Step-up cannot be refreshed into, nor a limited admin's session refreshed out of."""
    settings.MFA_REQUIRED_FOR_ADMINS = True
    plain = login(api, admin.email).json()
    refreshed = api.post("/login/refresh", {"refresh": plain["refresh"]}, format="json").json()
    assert claims(refreshed["token"])["role"] == "user"
    secret, _ = enrolled(admin)
    done = second_step(api, admin, code=code_at(secret, steady_now())).json()
    settings.MFA_STEP_UP_SECONDS = 0
    time.sleep(1.1)
    again = api.post("/login/refresh", {"refresh": done["refresh"]}, format="json").json()
    old, new = claims(done["token"]), claims(again["token"])
    assert (new["auth_time"], new["amr"], new["role"]) == (old["auth_time"], old["amr"], "admin")
    client = client_for(admin, token=again["token"])
    assert_error(client.post("/user/mfa/recovery-codes"), 401, "step_up_required")


def test_factor_routes_without_the_factor_are_409(user):
    client = client_for(user)
    confirm = client.post("/user/mfa/totp/confirm", {"code": "123456"}, format="json")
    assert_error(confirm, 409, "mfa_not_enabled")
    assert_error(client.post("/user/mfa/recovery-codes"), 409, "mfa_not_enabled")
    removal = client.delete("/user/mfa/totp", {"code": "123456"}, format="json")
    assert_error(removal, 409, "mfa_not_enabled")
    enrolled(user)
    assert_error(client.post("/user/mfa/totp"), 409, "mfa_already_enabled")


def test_the_encryption_key_rotates_and_codes_keep_working(api, user, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    secret, _ = enrolled(user)
    old = Totp.objects.get(user=user).secret
    new_key = Fernet.generate_key().decode()
    settings.MFA_ENCRYPTION_KEYS = [new_key, *settings.MFA_ENCRYPTION_KEYS]
    call_command("mfa_rotate_keys")
    rotated = Totp.objects.get(user=user).secret
    assert rotated != old and Fernet(new_key).decrypt(rotated.encode()).decode() == secret
    # The old key may go now.
    settings.MFA_ENCRYPTION_KEYS = [new_key]
    assert second_step(api, user, code=code_at(secret, steady_now())).status_code == 201


def test_a_right_password_does_not_reset_the_count_of_wrong_codes(api, user, settings):
    settings.LOGIN_FREE_FAILURES = 2
    secret, _ = enrolled(user)
    wrong = "000000" if code_at(secret, steady_now()) != "000000" else "111111"
    # A guesser who knows the password logs in again after each wrong code: the right
    # password neither adds to nor clears the account's run of failures.
    statuses = []
    for _ in range(4):
        first = login(api, user.email)
        statuses.append(first.status_code)
        if first.status_code == 200:
            body = {"mfa_token": first.json()["mfa_token"], "code": wrong}
            statuses.append(api.post("/login/mfa", body, format="json").status_code)
    # No more codes evaluated (401) than two wrong passwords would be; then it waits.
    assert statuses.count(401) <= 2
    assert statuses[-1] == 429


def test_a_right_password_adds_no_wait_before_the_right_code(api, user, settings):
    settings.LOGIN_FREE_FAILURES = 2
    secret, _ = enrolled(user)
    wrong = "000000" if code_at(secret, steady_now()) != "000000" else "111111"
    first = login(api, user.email)
    body = {"mfa_token": first.json()["mfa_token"], "code": wrong}
    assert api.post("/login/mfa", body, format="json").status_code == 401
    # The owner mistyped once, then logs in again: the right code goes through at once.
    again = login(api, user.email)
    assert again.status_code == 200
    right = {"mfa_token": again.json()["mfa_token"], "code": code_at(secret, steady_now())}
    assert api.post("/login/mfa", right, format="json").status_code == 201


def test_a_login_asks_for_the_factors_in_one_query_each_time(api, user):
    """The password check and the login each ask once (one statement for all factors),
    as GET /user/mfa does: every login of every user pays for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def factor_queries(send):
        with CaptureQueriesContext(connection) as queries:
            response = send()
        return response, [q["sql"] for q in queries if "mfa_" in q["sql"]]

    response, asked = factor_queries(lambda: login(api, user.email))
    assert response.status_code == 201 and len(asked) == 2
    response, asked = factor_queries(lambda: client_for(user).get("/user/mfa"))
    assert response.status_code == 200 and len(asked) == 1
