import threading
import time
from types import SimpleNamespace

import pytest
from django.test import RequestFactory

from audit.models import AuditEntry
from auth import ratelimit
from auth.models import Session
from restapi.clients import client_ip
from tests.helpers import PASSWORD, assert_error, claims, client_for, counted, login
from users import hashers

pytestmark = pytest.mark.django_db


WRONG = "wrong password"


@pytest.fixture
def clock(monkeypatch):
    """The rate limiter's clock, moved by the test instead of sleeping."""
    now = [1_900_000_000.0]
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def test_account_waits_after_five_consecutive_failures(api, user, clock):
    for _ in range(5):
        assert_error(login(api, user.email, WRONG), 401, "invalid_credentials")
    lockouts = counted("restapi_login_lockouts_total")
    locked = login(api, user.email)
    assert_error(locked, 429, "rate_limited")
    assert counted("restapi_login_lockouts_total") == lockouts + 1
    assert locked["Retry-After"] == "1"
    clock[0] += 1
    # The 6th failure: now 2 s.
    assert_error(login(api, user.email, WRONG), 401, "invalid_credentials")
    clock[0] += 1
    assert_error(login(api, user.email), 429, "rate_limited")
    clock[0] += 1
    assert login(api, user.email).status_code == 201
    # A success resets the count: five more tries are free.
    for _ in range(5):
        assert_error(login(api, user.email, WRONG), 401, "invalid_credentials")


def test_wait_doubles_and_is_capped_at_fifteen_minutes(api, user, clock):
    waits = []
    for _ in range(40):
        response = login(api, user.email, WRONG)
        if response.status_code == 429:
            waits.append(int(response["Retry-After"]))
            clock[0] += waits[-1]
    assert waits[:6] == [1, 2, 4, 8, 16, 32]
    assert waits[-3:] == [900, 900, 900]


def test_unknown_and_known_accounts_lock_alike(api, user, clock):
    for email in ("alice@example.com", "nobody@example.com"):
        for _ in range(5):
            login(api, email, WRONG)
    known = login(api, user.email, WRONG)
    unknown = login(api, "nobody@example.com", WRONG)
    assert known.status_code == unknown.status_code == 429
    assert known.json() == unknown.json()
    assert known["Retry-After"] == unknown["Retry-After"]


def test_login_per_ip_bucket(api, user, settings, clock):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": "3/60"}
    for _ in range(3):
        assert login(api, user.email).status_code == 201
    limited = login(api, user.email)
    assert_error(limited, 429, "rate_limited")
    assert limited["Retry-After"] == "20"
    assert login(api, user.email, REMOTE_ADDR="10.9.8.7").status_code == 201
    clock[0] += 20
    assert login(api, user.email).status_code == 201


def test_password_reset_per_ip_bucket(api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_reset": "2/900"}
    body = {"email": "anyone@example.com"}
    for _ in range(2):
        assert api.post("/user/password/reset", body, format="json").status_code == 202
    assert_error(api.post("/user/password/reset", body, format="json"), 429, "rate_limited")


def test_register_per_ip_bucket(api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "register": "2/3600"}
    for i in range(2):
        body = {"email": f"n{i}@example.com", "password": PASSWORD}
        assert api.post("/user", body, format="json").status_code == 201
    body = {"email": "n3@example.com", "password": PASSWORD}
    assert_error(api.post("/user", body, format="json"), 429, "rate_limited")


def test_forwarded_for_counts_only_with_trusted_proxies(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4, 10.0.0.2"
    )
    assert client_ip(request) == "10.0.0.1"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(request) == "1.2.3.4"
    settings.TRUSTED_PROXY_COUNT = 5
    assert client_ip(request) == "10.0.0.1"


def test_a_forwarded_value_that_is_no_address_logs_in_without_one(api, user, settings):
    """A proxy passes on what a client wrote: no address then, not a 500 from the session's
    address column (or the audit's)."""
    settings.TRUSTED_PROXY_COUNT = 1
    body = {"email": user.email, "password": PASSWORD}
    agent = "a" * 1000
    response = api.post(
        "/login", body, format="json", HTTP_X_FORWARDED_FOR="unknown", HTTP_USER_AGENT=agent
    )
    assert response.status_code == 201, response.content
    session = Session.objects.get(pk=claims(response.json()["token"])["sid"])
    entry = AuditEntry.objects.get(subject_id=user.pk, action="user.logged_in")
    assert (session.client_ip, entry.client_ip) == (None, None)
    assert session.user_agent == entry.user_agent == agent[:256]


def test_current_password_guesses_are_throttled_too(user, clock):
    client = client_for(user)
    for _ in range(5):
        body = {"user_id": user.pk, "password": "new passphrase 1", "current_password": "guess"}
        assert_error(client.put("/user", body, format="json"), 400, "validation_error")
    body = {"user_id": user.pk, "password": "new passphrase 1", "current_password": PASSWORD}
    assert_error(client.put("/user", body, format="json"), 429, "rate_limited")


def test_hashing_beyond_the_bound_is_503(api, user, settings):
    settings.PASSWORD_HASH_CONCURRENCY = 2
    settings.PASSWORD_HASH_WAIT_SECONDS = 0
    slots, _ = hashers._hash_slots(2, settings.PASSWORD_HASH_MAX_WAITING)
    taken = [slots.acquire(blocking=False) for _ in range(2)]
    try:
        assert all(taken)
        response = login(api, user.email)
        assert_error(response, 503, "overloaded")
        assert response["Retry-After"] == "1"
    finally:
        for _ in taken:
            slots.release()
    assert login(api, user.email).status_code == 201


def test_a_waiting_hash_gets_the_slot_when_one_frees(api, user, settings):
    settings.PASSWORD_HASH_CONCURRENCY = 1
    settings.PASSWORD_HASH_WAIT_SECONDS = 5
    slots, _ = hashers._hash_slots(1, settings.PASSWORD_HASH_MAX_WAITING)
    slots.acquire()
    threading.Timer(0.3, slots.release).start()
    assert login(api, user.email).status_code == 201


def test_no_more_wait_for_a_hash_than_the_waiting_room_holds(api, user, settings):
    """Waiting logins hold request threads: past the waiting room, 503 at once."""
    settings.PASSWORD_HASH_CONCURRENCY = 1
    settings.PASSWORD_HASH_MAX_WAITING = 1
    settings.PASSWORD_HASH_WAIT_SECONDS = 5
    slots, waiting = hashers._hash_slots(1, 1)
    slots.acquire()
    waiting.acquire()  # another request waits already
    try:
        started = time.monotonic()
        response = login(api, user.email)
        assert time.monotonic() - started < 1
        assert_error(response, 503, "overloaded")
    finally:
        waiting.release()
        slots.release()
    assert login(api, user.email).status_code == 201


def test_logins_shed_for_want_of_a_hash_slot_do_not_count_against_the_account(api, user, settings):
    """Six logins refused with 503 before their password was checked: no lockout after."""
    settings.PASSWORD_HASH_CONCURRENCY = 1
    settings.PASSWORD_HASH_WAIT_SECONDS = 0
    slots, _ = hashers._hash_slots(1, settings.PASSWORD_HASH_MAX_WAITING)
    slots.acquire()
    try:
        for _ in range(6):
            assert_error(login(api, user.email), 503, "overloaded")
    finally:
        slots.release()
    assert login(api, user.email).status_code == 201
