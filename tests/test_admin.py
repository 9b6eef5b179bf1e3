import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import authenticate
from django.core import mail
from django.test import Client, RequestFactory
from django.utils import timezone

from auth import ratelimit
from auth.models import LoginThrottle, Session
from kafka_events.models import OutboxEvent
from kafka_events.outbox import TOMBSTONE, outbox_add
from privacy import services
from privacy.models import Erasure, ErasureState
from restapi.signals import announce
from tests.helpers import PASSWORD, assert_error, claims, counted, file_row, tokens_for
from tests.logscan import scan
from users.models import User

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


def test_the_reset_second_factors_action(operator, user):
    from mfa.models import RecoveryCode, Totp

    Totp.objects.create(user=user, secret="encrypted", confirmed_at=timezone.now())
    RecoveryCode.objects.create(user=user, code_hash="h")
    tokens_for(user)
    response = operator.post(
        "/admin/users/user/", {"action": "reset_second_factors", "_selected_action": [user.pk]}
    )
    assert response.status_code == 302
    assert not Totp.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert Session.objects.get(user=user).revoked_reason == "mfa_reset"


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
    [
        "/admin/authn/session/",
        "/admin/userdata/userfile/",
        "/admin/kafka_events/outboxevent/",
        "/admin/privacy/erasure/",
    ],
)
def test_operator_pages_render(operator, page):
    assert operator.get(page).status_code == 200


def test_the_erasures_page_shows_the_pending_ones_and_cancels_or_hastens_them(
    operator, user, other_user, make_user
):
    waiting, hastened = an_erasure(user), an_erasure(other_user)
    done = an_erasure(make_user())
    Erasure.objects.filter(pk=done.pk).update(state=ErasureState.DONE)
    pending = operator.get("/admin/privacy/erasure/", {"pending": "yes"})
    assert pending.status_code == 200
    shown = {row.user_id for row in pending.context["cl"].result_list}
    assert shown == {waiting.user_id, hastened.user_id}
    page = "/admin/privacy/erasure/"
    operator.post(page, {"action": "cancel", "_selected_action": [waiting.pk]})
    operator.post(page, {"action": "run_now", "_selected_action": [hastened.pk]})
    waiting.refresh_from_db()
    hastened.refresh_from_db()
    assert waiting.state == ErasureState.CANCELLED
    assert hastened.state == ErasureState.SCHEDULED and hastened.due_at <= timezone.now()
    response = operator.post(page, {"action": "cancel", "_selected_action": [done.pk]})
    assert response.status_code == 302  # refused with a message, nothing changed
    assert Erasure.objects.get(pk=done.pk).state == ErasureState.DONE


def test_outbox_retry_action(operator, user, kafka):
    announce(user, "user.updated", changes=["role"])
    row = OutboxEvent.objects.get()
    OutboxEvent.objects.update(next_attempt_at="2100-01-01T00:00:00Z", attempts=3)
    operator.post(
        "/admin/kafka_events/outboxevent/", {"action": "retry_now", "_selected_action": [row.pk]}
    )
    row.refresh_from_db()
    assert row.next_attempt_at.year < 2100


def test_outbox_pages_show_a_tombstone(operator: Client) -> None:
    event_id = uuid.uuid4()
    row = outbox_add(
        topic="user.events",
        key="user-7",
        event_type=TOMBSTONE,
        value=None,
        headers=[["event_id", str(event_id)]],
        event_id=event_id,
    )
    assert TOMBSTONE.encode() in operator.get("/admin/kafka_events/outboxevent/").content
    assert operator.get(f"/admin/kafka_events/outboxevent/{row.pk}/change/").status_code == 200


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


@pytest.fixture
def events_on(settings):
    """Events written to the outbox (nothing is published here, so no broker)."""
    settings.KAFKA_ENABLED = True
    settings.KAFKA_PUBLISH_EVENTS = True


def test_the_admin_names_the_service(operator, settings):
    page = operator.get("/admin/").content.decode()
    label = settings.SERVER_NAME_LABEL
    assert f"<title>Users, sessions, files and events | {label} admin</title>" in page
    assert f"{label} administration" in page
    assert "Django" not in page.split("<body")[0]
    assert "Django administration" not in page


def test_a_users_page_never_shows_the_password_hash(operator, user):
    page = operator.get(f"/admin/users/user/{user.pk}/change/")
    assert page.status_code == 200
    salt, digest = user.password.rsplit("$", 2)[1:]
    for part in (user.password, salt, digest):
        assert part.encode() not in page.content
    assert b"argon2 hash (not shown)" in page.content
    assert f'href="/admin/users/user/{user.pk}/password/"'.encode() in page.content


def a_file_row(user):
    return file_row(
        user, key="admin/notes", sloc="file://admin/notes", filename="notes.txt", size_in_bytes=5
    )


def an_outbox_row(user):
    announce(user, "user.updated", changes=["role"])
    return OutboxEvent.objects.get()


def an_erasure(user):
    return services.erasure_schedule(user=user, requested_by="admin", delay=timedelta(days=7))


ROWS = {
    "users/user": lambda user: user,
    "privacy/erasure": an_erasure,
    "authn/session": lambda user: Session.objects.get(pk=claims(tokens_for(user).token)["sid"]),
    "userdata/userfile": a_file_row,
    "kafka_events/outboxevent": an_outbox_row,
}


@pytest.mark.parametrize("page", ROWS)
def test_row_pages_only_show_and_a_save_writes_nothing(operator, user, events_on, page):
    """Every field is read-only: a Save rewrote the whole row outside the services' locks."""
    row = ROWS[page](user)
    model = type(row)
    before = model.objects.filter(pk=row.pk).values().get()
    shown = operator.get(f"/admin/{page}/{row.pk}/change/")
    assert shown.status_code == 200 and b'name="_save"' not in shown.content
    assert operator.post(f"/admin/{page}/{row.pk}/change/", {}).status_code == 403
    assert model.objects.filter(pk=row.pk).values().get() == before


@pytest.mark.parametrize(
    "page",
    [
        "/admin/userdata/userfile/add/",
        "/admin/kafka_events/outboxevent/add/",
        "/admin/authn/session/add/",
        "/admin/privacy/erasure/add/",
    ],
)
def test_rows_the_services_make_have_no_add_page(operator, page):
    assert operator.get(page).status_code == 403
    assert operator.post(page, {}).status_code == 403


NEW_PASSWORD = "a brand new passphrase"
scan.add(NEW_PASSWORD)


def set_password(client, user, *, again=NEW_PASSWORD, **extra):
    body = {"password1": NEW_PASSWORD, "password2": again, **extra}
    return client.post(f"/admin/users/user/{user.pk}/password/", body)


def test_an_admin_sets_another_users_password_through_the_service(operator, admin, user, events_on):
    tokens_for(user)
    tokens_for(user)
    form = operator.get(f"/admin/users/user/{user.pk}/password/")
    assert form.status_code == 200 and b'name="current_password"' not in form.content
    mismatch = set_password(operator, user, again="something else entirely")
    assert b"didn\xe2\x80\x99t match" in mismatch.content
    weak = operator.post(
        f"/admin/users/user/{user.pk}/password/", {"password1": "password", "password2": "password"}
    )
    assert b"This password is too common." in weak.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and not OutboxEvent.objects.exists()
    done = set_password(operator, user)
    assert done.status_code == 302 and done["Location"] == f"/admin/users/user/{user.pk}/change/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert set(Session.objects.values_list("revoked_reason", flat=True)) == {"password_changed"}
    assert OutboxEvent.objects.get().event_type == "user.password_changed"
    entry = LogEntry.objects.get()
    assert (entry.user_id, entry.object_id, entry.change_message) == (
        admin.pk,
        str(user.pk),
        "Set a new password.",
    )
    assert NEW_PASSWORD not in str(entry.__dict__)


def test_an_admins_own_password_needs_the_current_one_and_keeps_the_browser(operator, admin, clock):
    assert operator.get("/admin/password_change/")["Location"] == (
        f"/admin/users/user/{admin.pk}/password/"
    )
    page = operator.get(f"/admin/users/user/{admin.pk}/password/")
    assert b'name="current_password"' in page.content
    wrong = set_password(operator, admin, current_password="not my password")
    assert b"Give your current password" in wrong.content
    assert LoginThrottle.objects.get().failures == 1  # a password check like a login's
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)
    clock[0] += 1
    assert set_password(operator, admin, current_password=PASSWORD).status_code == 302
    admin.refresh_from_db()
    assert admin.check_password(NEW_PASSWORD)
    assert operator.get("/admin/").status_code == 200  # still logged in here


def test_the_password_form_needs_its_csrf_token(admin, user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    assert set_password(browser, user).status_code == 403
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def add_user(client, email, password=NEW_PASSWORD, role="user"):
    body = {"email": email, "password1": password, "password2": password, "role": role}
    return client.post("/admin/users/user/add/", body)


def test_users_added_in_the_admin_are_made_as_registration_makes_them(
    operator, admin, user, events_on, deliver
):
    assert operator.get("/admin/users/user/add/").status_code == 200
    for email, message in [
        ("not-an-email", b"Enter a valid email address."),
        ("ops@a..b", b"Enter a valid email address."),
        ("ALICE@example.com", b"An account with this email already exists."),
    ]:
        assert message in add_user(operator, email).content, email
    assert (
        b"This password is too common." in add_user(operator, "new@example.com", "password").content
    )
    assert User.objects.count() == 2 and not OutboxEvent.objects.exists()
    with deliver():
        done = add_user(operator, "New.Ops@Example.COM", role="admin")
    created = User.objects.get(email="new.ops@example.com")
    assert done.status_code == 302 and done["Location"] == f"/admin/users/user/{created.pk}/change/"
    assert created.role == "admin" and created.verified == 0
    assert created.password.startswith("argon2$argon2id$") and created.check_password(NEW_PASSWORD)
    assert OutboxEvent.objects.get().event_type == "user.created"
    assert [m.to for m in mail.outbox] == [["new.ops@example.com"]]
    assert LogEntry.objects.get().object_id == str(created.pk)


def test_the_admin_offers_no_groups(operator):
    assert operator.get("/admin/auth/group/").status_code == 404
    assert b"/admin/auth/" not in operator.get("/admin/").content
