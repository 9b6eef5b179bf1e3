from types import SimpleNamespace

import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory

from auth import ratelimit
from auth.models import LoginThrottle, Session
from kafka_events.models import OutboxEvent
from tests.conftest import PASSWORD, tokens_for
from tests.helpers import assert_error, counted
from users.signals import announce

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_admin_pages_need_an_admin(user, admin):
    anonymous = Client().get("/admin/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    plain = Client()
    plain.force_login(user)
    assert plain.get("/admin/users/user/").status_code == 302
    assert Client().get("/admin/login/").status_code == 200


def test_operators_search_users(operator, user, other_user):
    response = operator.get("/admin/users/user/", {"q": "alice"})
    assert response.status_code == 200
    assert b"alice@example.com" in response.content
    assert b"bob@example.com" not in response.content


def test_deactivate_and_reactivate_actions(operator, user):
    sid = tokens_for(user)
    response = operator.post(
        "/admin/users/user/", {"action": "deactivate", "_selected_action": [user.pk]}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.state == 1
    assert Session.objects.get().revoked_reason == "deactivated"
    operator.post("/admin/users/user/", {"action": "reactivate", "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert user.state == 0
    assert sid.token


def test_revoke_sessions_action(operator, user):
    tokens_for(user)
    session = Session.objects.get()
    revoked = counted("restapi_sessions_revoked_total", reason="admin")
    response = operator.post(
        "/admin/authn/session/", {"action": "revoke", "_selected_action": [session.pk]}
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.revoked_reason == "admin" and session.revoked_at is not None
    assert counted("restapi_sessions_revoked_total", reason="admin") == revoked + 1
    # Revoking it again changes and counts nothing.
    operator.post("/admin/authn/session/", {"action": "revoke", "_selected_action": [session.pk]})
    assert counted("restapi_sessions_revoked_total", reason="admin") == revoked + 1


@pytest.mark.parametrize(
    "page",
    ["/admin/authn/session/", "/admin/userdata/userdata/", "/admin/kafka_events/outboxevent/"],
)
def test_operator_pages_render(operator, page):
    assert operator.get(page).status_code == 200


def test_outbox_retry_action(operator, user, kafka):
    announce(user, "user.updated")
    row = OutboxEvent.objects.get()
    OutboxEvent.objects.update(next_attempt_at="2100-01-01T00:00:00Z", attempts=3)
    operator.post(
        "/admin/kafka_events/outboxevent/", {"action": "retry_now", "_selected_action": [row.pk]}
    )
    row.refresh_from_db()
    assert row.next_attempt_at.year < 2100


INVALID_LOGIN = b"Please enter the correct email and password"
TRY_LATER = b"Too many attempts"


def admin_login(client, email, password, **extra):
    body = {"username": email, "password": password, "next": "/admin/"}
    return client.post("/admin/login/", body, **extra)


@pytest.fixture
def clock(monkeypatch):
    """The rate limiter's clock, moved by the test instead of sleeping."""
    now = [1_900_000_000.0]
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def test_admin_login_backs_off_like_the_api_login(admin, clock):
    client = Client()
    for _ in range(5):
        assert INVALID_LOGIN in admin_login(client, admin.email, "wrong password").content
    refused = admin_login(client, admin.email, PASSWORD)
    assert refused.status_code == 200
    assert refused["Content-Type"].startswith("text/html")
    assert TRY_LATER in refused.content and b"Try again later (in 1 s)" in refused.content
    assert client.get("/admin/").status_code == 302
    clock[0] += 1
    assert admin_login(client, admin.email, PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert not LoginThrottle.objects.exists()  # the success cleared the count


def test_a_lockout_holds_across_the_api_and_the_admin(api, admin, clock):
    for _ in range(5):
        body = {"email": admin.email, "password": "wrong password"}
        assert api.post("/login", body, format="json").status_code == 401
    assert TRY_LATER in admin_login(Client(), admin.email, PASSWORD).content
    clock[0] += 1
    assert INVALID_LOGIN in admin_login(Client(), admin.email, "wrong password").content
    # The admin's failure counts for the API too: the wait is 2 s now.
    clock[0] += 1
    body = {"email": admin.email, "password": PASSWORD}
    assert_error(api.post("/login", body, format="json"), 429, "rate_limited")


def test_admin_login_takes_from_the_login_ip_bucket(admin, settings, clock):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": "2/60"}
    client = Client()
    for _ in range(2):
        assert INVALID_LOGIN in admin_login(client, admin.email, "wrong password").content
    assert TRY_LATER in admin_login(client, admin.email, PASSWORD).content
    assert admin_login(client, admin.email, PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 302


def test_django_authenticate_goes_through_the_same_limits(admin, clock):
    request = RequestFactory().post("/admin/login/")
    for _ in range(5):
        assert authenticate(request, username=admin.email, password="wrong password") is None
    assert LoginThrottle.objects.get().failures == 5
    # Locked: not even the right password is evaluated.
    assert authenticate(request, username=admin.email, password=PASSWORD) is None
    clock[0] += 1
    assert authenticate(request, username="ROOT@example.com", password=PASSWORD) == admin
    assert not LoginThrottle.objects.exists()


def test_a_users_right_password_does_not_open_the_admin(user):
    response = admin_login(Client(), user.email, PASSWORD)
    assert response.status_code == 200 and INVALID_LOGIN in response.content


def test_an_overlong_admin_password_is_refused_without_hashing(admin, monkeypatch):
    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed")

    monkeypatch.setattr("users.hashers.SettingsArgon2PasswordHasher.verify", no_hashing)
    monkeypatch.setattr("users.hashers.SettingsArgon2PasswordHasher.encode", no_hashing)
    assert INVALID_LOGIN in admin_login(Client(), admin.email, "x" * 1025).content


def test_the_admin_keeps_its_sessions_and_csrf_while_the_api_skips_them(admin, user):
    """Sessions, CSRF and messages run for /admin/ only (restapi.middleware.ADMIN_PATHS)."""
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post("/admin/login/", {"username": admin.email, "password": PASSWORD})
    assert refused.status_code == 403  # no CSRF token
    page = browser.get("/admin/login/")
    assert "csrftoken" in page.cookies
    api = Client(enforce_csrf_checks=True)
    response = api.get(f"/user/{user.pk}", HTTP_AUTHORIZATION=f"Bearer {tokens_for(user).token}")
    assert response.status_code == 200
    assert not response.cookies and "Cookie" not in response.get("Vary", "")
