import logging
import re
import threading
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from auth.models import LoginThrottle, Session
from tests.helpers import PASSWORD, assert_error, claims, client_for, tokens_for
from users import onetime
from users.models import OneTimeToken, User
from users.services import verification_resend

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a fresh passphrase 42"


def register(api, email="new@example.com"):
    return api.post("/user", {"email": email, "password": PASSWORD}, format="json")


def link_params(message):
    link = re.search(r"https://\S+/user/verify\?\S+", message.body).group(0)
    query = parse_qs(urlparse(link).query)
    return {"u": query["u"][0], "t": query["t"][0]}


def reset_code(message):
    return message.body.split("code:\n\n", 1)[1].split("\n", 1)[0]


def verify(api, params, **extra):
    return api.get("/user/verify", params, **extra)


def change_password(api, email, token, password=NEW_PASSWORD, **extra):
    body = {"email": email, "token": token, "password": password}
    return api.post("/user/password/change", body, format="json", **extra)


@pytest.fixture
def clock(monkeypatch):
    """Moves the one-time tokens' clock instead of sleeping."""
    offset = [timedelta(0)]
    real_now = timezone.now
    monkeypatch.setattr(onetime, "timezone", SimpleNamespace(now=lambda: real_now() + offset[0]))
    return offset


def test_registration_sends_a_verification_link_that_works_once(api, deliver):
    with deliver():
        body = register(api).json()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new@example.com"]
    assert message.alternatives[0][1] == "text/html"
    params = link_params(message)
    assert params["t"] in message.alternatives[0][0]
    assert params["u"] == str(body["user_id"])
    assert params["t"] not in str(body)
    response = verify(api, params)
    assert response.status_code == 200
    assert response.json()["verified"] == 1
    assert User.objects.get(pk=body["user_id"]).verified == 1
    again = assert_error(verify(api, params), 400, "invalid_or_expired_token")
    assert again["msg"] == "This link or code is invalid or has expired."


def test_bad_verification_requests_get_one_generic_400(api, user, deliver):
    with deliver():
        body = register(api).json()
    params = link_params(mail.outbox[0])
    bodies = [
        verify(api, {**params, "t": "x" * 43}).json(),
        verify(api, {**params, "u": str(user.pk)}).json(),
        verify(api, {**params, "u": "987654"}).json(),
        verify(api, {"u": "abc", "t": params["t"]}).json(),
        verify(api, {"u": params["u"]}).json(),
    ]
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["code"] == "invalid_or_expired_token"
    assert User.objects.get(pk=body["user_id"]).verified == 0


def test_expired_verification_link_fails(api, deliver, clock, settings):
    with deliver():
        register(api)
    clock[0] = timedelta(seconds=settings.USER_EMAIL_VERIFICATION_EXP_IN_SECONDS + 1)
    assert_error(verify(api, link_params(mail.outbox[0])), 400, "invalid_or_expired_token")
    clock[0] = timedelta(0)
    assert verify(api, link_params(mail.outbox[0])).status_code == 200


def test_wrong_link_guesses_are_limited_per_ip_and_never_burn_the_link(api, deliver, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "verify": "10/900"}
    with deliver():
        register(api)
    params = link_params(mail.outbox[0])
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    guesses = [verify(api, {**params, "t": f"guess{i}"}, **stranger) for i in range(12)]
    for guess in guesses[:10]:
        assert_error(guess, 400, "invalid_or_expired_token")
    for guess in guesses[10:]:
        assert_error(guess, 429, "rate_limited")
        assert int(guess["Retry-After"]) > 0
    # Even the real link waits at that address, before any lookup; the owner's works.
    assert_error(verify(api, params, **stranger), 429, "rate_limited")
    assert verify(api, params, REMOTE_ADDR="198.51.100.7").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_wrong_reset_codes_are_limited_per_ip_and_never_burn_the_code(api, user, deliver, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_change": "10/900"}
    with deliver():
        api.post("/user/password/reset", {"email": user.email}, format="json")
    code = reset_code(mail.outbox[0])
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    guesses = [change_password(api, user.email, f"guess{i}", **stranger) for i in range(12)]
    assert [g.status_code for g in guesses] == [400] * 10 + [429] * 2
    assert_error(guesses[-1], 429, "rate_limited")
    assert_error(change_password(api, user.email, code, **stranger), 429, "rate_limited")
    assert change_password(api, user.email, code, REMOTE_ADDR="198.51.100.7").status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_resend_cancels_the_older_link(api, deliver):
    with deliver():
        body = register(api).json()
        response = api.post("/user/verify/resend", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert response.status_code == 202
    first, second = (link_params(m) for m in mail.outbox)
    assert_error(verify(api, first), 400, "invalid_or_expired_token")
    assert verify(api, second).status_code == 200


def test_resend_for_a_verified_user_sends_nothing(user, deliver):
    user.verified = 1
    user.save()
    with deliver():
        assert client_for(user).post("/user/verify/resend").status_code == 202
    assert mail.outbox == []


def test_resend_is_rate_limited(user, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "verify_resend": "2/900"}
    client = client_for(user)
    assert [client.post("/user/verify/resend").status_code for _ in range(3)] == [202, 202, 429]


def test_no_email_when_verification_is_disabled(api, deliver, settings):
    settings.USER_EMAIL_VERIFICATION_ENABLED = False
    with deliver():
        assert register(api).status_code == 201
    assert mail.outbox == []


def test_required_verification_gates_tokens_and_login(api, deliver, settings):
    settings.USER_EMAIL_VERIFICATION_REQUIRED = True
    with deliver():
        body = register(api).json()
    assert "token" not in body and "refresh" not in body
    assert not Session.objects.exists()
    credentials = {"email": "new@example.com", "password": PASSWORD}
    wrong = {**credentials, "password": "not the password"}
    assert_error(api.post("/login", wrong, format="json"), 401, "invalid_credentials")
    assert_error(api.post("/login", credentials, format="json"), 403, "email_not_verified")
    assert verify(api, link_params(mail.outbox[0])).status_code == 200
    assert api.post("/login", credentials, format="json").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_resend_without_a_token_by_email_never_tells(api, deliver, settings):
    settings.USER_EMAIL_VERIFICATION_REQUIRED = True
    with deliver():
        register(api)
    with deliver():
        known = api.post("/user/verify/resend", {"email": "new@example.com"}, format="json")
        unknown = api.post("/user/verify/resend", {"email": "nope@example.com"}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [m.to for m in mail.outbox] == [["new@example.com"], ["new@example.com"]]


@pytest.mark.django_db(transaction=True)
def test_password_reset_answers_alike_and_mails_only_real_active_accounts(api, make_user, deliver):
    make_user(email="alice@example.com")
    make_user(email="gone@example.com", state=1)
    with deliver():
        answers = [
            api.post("/user/password/reset", {"email": email}, format="json")
            for email in ("alice@example.com", "nobody@example.com", "gone@example.com")
        ]
    assert {a.status_code for a in answers} == {202}
    assert all(a.content == answers[0].content for a in answers)
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert reset_code(mail.outbox[0]) not in answers[0].content.decode()


@pytest.mark.django_db(transaction=True)
def test_password_reset_sets_the_password_and_ends_every_session(api, user, deliver):
    session = tokens_for(user)
    with deliver():
        seed_form = {"user_id": user.pk, "email": user.email}
        response = api.post(
            "/user/password/reset", seed_form, format="json", HTTP_AUTHORIZATION="Bearer x"
        )
        assert response.status_code == 202
    code = reset_code(mail.outbox[0])
    response = change_password(api, user.email, code)
    assert response.status_code == 200
    assert response.json()["user_id"] == user.pk
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    refresh = api.post("/login/refresh", {"refresh": session.refresh}, format="json")
    assert_error(refresh, 401, "invalid_token")
    assert_error(
        change_password(api, user.email, code, "yet another one 99"),
        400,
        "invalid_or_expired_token",
    )


@pytest.mark.django_db(transaction=True)
def test_password_change_refuses_wrong_foreign_expired_and_superseded_tokens(
    api, user, other_user, deliver, clock, settings
):
    with deliver():
        for _ in range(2):
            api.post("/user/password/reset", {"email": user.email}, format="json")
        api.post("/user/password/reset", {"email": other_user.email}, format="json")
    old, new, bobs = (reset_code(m) for m in mail.outbox)
    generic = [
        change_password(api, user.email, old),
        change_password(api, user.email, bobs),
        change_password(api, "nobody@example.com", new),
    ]
    for response in generic:
        assert_error(response, 400, "invalid_or_expired_token")
    weak = change_password(api, user.email, new, "password")
    assert "password" in assert_error(weak, 400, "validation_error")["errors"]
    clock[0] = timedelta(seconds=settings.USER_OTP_EXP_IN_SECONDS + 1)
    assert_error(change_password(api, user.email, new), 400, "invalid_or_expired_token")
    clock[0] = timedelta(0)
    assert change_password(api, user.email, new).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_uses_of_one_token_have_one_winner(api, user, deliver):
    with deliver():
        api.post("/user/password/reset", {"email": user.email}, format="json")
    code = reset_code(mail.outbox[0])
    barrier, statuses = threading.Barrier(4), []

    def attempt(i):
        try:
            barrier.wait()
            response = change_password(api.__class__(), user.email, code, f"racing passphrase {i}")
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400, 400, 400]


def test_email_change_waits_for_the_new_address(user, api, deliver):
    client = client_for(user)
    with deliver():
        response = client.put(
            "/user",
            {"user_id": user.pk, "email": "Alice@New.example", "current_password": PASSWORD},
            format="json",
        )
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"
    assert response.json()["pending_email"] == "alice@new.example"
    link, notice = sorted(mail.outbox, key=lambda m: m.to[0] != "alice@new.example")
    assert link.to == ["alice@new.example"]
    assert notice.to == ["alice@example.com"]
    assert "alice@new.example" in notice.body
    old_login = {"email": "alice@example.com", "password": PASSWORD}
    assert api.post("/login", old_login, format="json").status_code == 201
    confirmed = verify(api, link_params(link))
    assert confirmed.status_code == 200
    assert (confirmed.json()["email"], confirmed.json()["pending_email"]) == (
        "alice@new.example",
        None,
    )
    new_login = {"email": "alice@new.example", "password": PASSWORD}
    assert api.post("/login", new_login, format="json").status_code == 201


def test_pending_address_taken_meanwhile_fails_cleanly_at_verification(
    user, make_user, api, deliver
):
    with deliver():
        client_for(user).put(
            "/user",
            {"user_id": user.pk, "email": "wanted@example.com", "current_password": PASSWORD},
            format="json",
        )
    params = link_params(next(m for m in mail.outbox if m.to == ["wanted@example.com"]))
    make_user(email="wanted@example.com")
    assert_error(verify(api, params), 409, "email_taken")
    user.refresh_from_db()
    assert (user.email, user.pending_email) == ("alice@example.com", "wanted@example.com")
    assert OneTimeToken.objects.get(purpose="email_change").used_at is None


def request_email_change(user, email):
    response = client_for(user).put(
        "/user",
        {"user_id": user.pk, "email": email, "current_password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_the_current_address_again_withdraws_a_pending_change(user, api, deliver):
    with deliver():
        assert request_email_change(user, "later@example.com")["pending_email"]
    params = link_params(next(m for m in mail.outbox if m.to == ["later@example.com"]))
    assert request_email_change(user, "alice@example.com")["pending_email"] is None
    assert_error(verify(api, params), 400, "invalid_or_expired_token")
    user.refresh_from_db()
    assert (user.email, user.pending_email) == ("alice@example.com", None)


def test_an_admins_change_voids_the_owners_pending_link(user, admin_client, api, deliver):
    with deliver():
        request_email_change(user, "mine@example.com")
    params = link_params(next(m for m in mail.outbox if m.to == ["mine@example.com"]))
    body = {"user_id": user.pk, "email": "assigned@example.com"}
    assert admin_client.put("/user", body, format="json").status_code == 200
    assert_error(verify(api, params), 400, "invalid_or_expired_token")
    user.refresh_from_db()
    assert (user.email, user.pending_email) == ("assigned@example.com", None)


def test_email_change_to_a_taken_address_is_answered_as_if_it_were_free(
    user, other_user, make_user, deliver
):
    stranger = make_user(email="carol@example.com")
    with deliver():
        taken = request_email_change(user, other_user.email)
        free = request_email_change(stranger, "carol@new.example")
    assert [k for k in taken if taken[k] != free[k]] == [
        "user_id",
        "email",
        "pending_email",
        "created_at",
        "updated_at",
    ]
    assert taken["pending_email"] == other_user.email
    assert client_for(user).get(f"/user/{user.pk}").json()["pending_email"] == other_user.email
    to_bob = [m for m in mail.outbox if m.to == [other_user.email]]
    assert len(to_bob) == 1
    assert "/user/verify" not in to_bob[0].body + to_bob[0].alternatives[0][0]
    assert "already belongs to your account" in to_bob[0].body
    # The requester's old address hears of it as for any change; a free address gets a link.
    assert [m.to for m in mail.outbox].count([user.email]) == 1
    assert "/user/verify" in next(m for m in mail.outbox if m.to == ["carol@new.example"]).body
    with deliver():
        assert client_for(user).post("/user/verify/resend").status_code == 202
    resent = [m for m in mail.outbox if m.to == [other_user.email]]
    assert len(resent) == 2 and "/user/verify" not in resent[1].body
    user.refresh_from_db()
    assert (user.email, user.pending_email) == ("alice@example.com", other_user.email)


def test_without_verification_a_taken_address_is_409(user, other_user, settings):
    settings.USER_EMAIL_VERIFICATION_ENABLED = False
    body = {"user_id": user.pk, "email": other_user.email, "current_password": PASSWORD}
    assert_error(client_for(user).put("/user", body, format="json"), 409, "email_taken")


def test_an_admins_change_to_a_taken_address_is_409(admin_client, user, other_user):
    body = {"user_id": user.pk, "email": other_user.email}
    assert_error(admin_client.put("/user", body, format="json"), 409, "email_taken")


@pytest.mark.parametrize("verification", [True, False])
def test_email_changes_are_rate_limited_per_account_and_ip(user, make_user, settings, verification):
    settings.USER_EMAIL_VERIFICATION_ENABLED = verification
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "email_change": "4/3600",
        "email_change_account": "2/3600",
    }
    client = client_for(user)

    def change(email, **extra):
        body = {"user_id": user.pk, "email": email, "current_password": PASSWORD}
        return client.put("/user", body, format="json", **extra)

    assert [change(f"a{i}@example.com").status_code for i in range(2)] == [200, 200]
    limited = change("a3@example.com")
    assert_error(limited, 429, "rate_limited")
    assert int(limited["Retry-After"]) > 0
    # The current address again (withdrawing a pending change) is not a probe.
    user.refresh_from_db()
    assert change(user.email).status_code == 200
    # Another account from the same client: two left in its bucket, then limited.
    dave = make_user(email="dave@example.com")
    dave_client = client_for(dave)

    def dave_change(i):
        body = {"user_id": dave.pk, "email": f"b{i}@example.com", "current_password": PASSWORD}
        return dave_client.put("/user", body, format="json").status_code

    assert [dave_change(i) for i in range(3)] == [200, 200, 429]


def test_admin_email_change_is_immediate_and_unverifies(admin_client, other_user, deliver):
    other_user.verified = 1
    other_user.save()
    with deliver():
        response = admin_client.put(
            "/user", {"user_id": other_user.pk, "email": "robert@example.com"}, format="json"
        )
    assert (response.json()["email"], response.json()["verified"]) == ("robert@example.com", 0)
    assert [m.to for m in mail.outbox] == [["robert@example.com"]]


def test_mail_failure_keeps_the_account_and_the_token(api, deliver, monkeypatch, settings, caplog):
    settings.EMAIL_SEND_RETRIES = 0

    def broken(self, *args, **kwargs):
        raise ConnectionRefusedError("smtp is down")

    monkeypatch.setattr("users.emails.EmailMultiAlternatives.send", broken)
    with caplog.at_level(logging.ERROR), deliver():
        response = register(api)
    assert response.status_code == 201
    assert OneTimeToken.objects.filter(user_id=response.json()["user_id"]).count() == 1
    assert "Background job _send failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_tokens_never_reach_responses_or_logs(api, deliver, caplog):
    with caplog.at_level(logging.DEBUG), deliver():
        created = register(api, "logs@example.com")
        api.post("/user/password/reset", {"email": "logs@example.com"}, format="json")
    params = link_params(mail.outbox[0])
    code = reset_code(mail.outbox[1])
    with caplog.at_level(logging.DEBUG):
        responses = [
            created,
            verify(api, params),
            verify(api, params),
            change_password(api, "logs@example.com", code),
        ]
    for secret in (params["t"], code):
        assert all(secret not in r.content.decode() for r in responses)
        assert secret not in caplog.text


def test_purge_expired_keeps_what_still_works(user, deliver):
    with deliver():
        for _ in range(3):
            verification_resend(user=user)
    sessions = [claims(tokens_for(user).token)["sid"] for _ in range(3)]
    Session.objects.filter(pk=sessions[0]).update(revoked_at=timezone.now() - timedelta(days=31))
    Session.objects.filter(pk=sessions[1]).update(revoked_at=timezone.now() - timedelta(days=1))
    LoginThrottle.objects.create(key="idle", failures=3, next_attempt_at=0)
    LoginThrottle.objects.create(key="busy", failures=3, next_attempt_at=time.time())
    call_command("purge_expired")
    live = OneTimeToken.objects.get()
    assert (live.used_at, live.cancelled_at) == (None, None)
    assert set(Session.objects.values_list("pk", flat=True)) == {
        uuid.UUID(sid) for sid in sessions[1:]
    }
    assert list(LoginThrottle.objects.values_list("key", flat=True)) == ["busy"]
