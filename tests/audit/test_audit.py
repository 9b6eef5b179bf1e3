"""The audit trail: every security-relevant action leaves exactly one entry, in its
transaction, with its actor, client IP, user agent and request id, and no secret;
GET /user/audit reads it; purge_expired keeps it for AUDIT_RETENTION_DAYS."""

import io
import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from kafka_events.models import OutboxEvent
from kafka_events.producer import publisher
from privacy.services import erasure_schedule
from restapi.context import REQUEST_CONTEXT
from tests.helpers import PASSWORD, assert_status, claims, client_for, login, tokens_for
from tests.logscan import scan
from tests.mfa.test_totp import code_at, enrol, steady_now
from users.models import User
from users.services import user_deactivate

pytestmark = pytest.mark.django_db

AGENT = "audit-tests/1.0"
SECOND_PASSWORD = "second audited passphrase"
THIRD_PASSWORD = "third audited passphrase"
scan.add(SECOND_PASSWORD)
scan.add(THIRD_PASSWORD)


class Caller:
    """Requests with a user agent and a fresh X-Request-ID each; `last` is that id."""

    ids = itertools.count(1)

    def __init__(self, client: APIClient | Client) -> None:
        self.client = client
        self.last = ""

    def __call__(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        self.last = f"audit-{next(self.ids)}"
        headers = {"HTTP_USER_AGENT": AGENT, "HTTP_X_REQUEST_ID": self.last, **extra}
        if isinstance(self.client, APIClient):
            return getattr(self.client, method)(path, data, format="json", **headers)
        return getattr(self.client, method)(path, data, **headers)

    def upload(self, body: bytes, filename: str, **extra: Any) -> Any:
        self.last = f"audit-{next(self.ids)}"
        return self.client.generic(
            "POST",
            "/user/data",
            body,
            content_type="text/plain",
            HTTP_FILENAME=filename,
            HTTP_USER_AGENT=AGENT,
            HTTP_X_REQUEST_ID=self.last,
            **extra,
        )


def recorded(request_id: str) -> list[tuple[int, str, str, int | None]]:
    """(subject, action, actor kind, actor) of each entry of one request."""
    entries = AuditEntry.objects.filter(request_id=request_id).order_by("id")
    for entry in entries:
        assert (entry.client_ip, entry.user_agent) == ("127.0.0.1", AGENT), entry.action
    return [(e.subject_id, e.action, e.actor_kind, e.actor_id) for e in entries]


def mailed_code() -> str:
    return mail.outbox[-1].body.split("code:\n\n", 1)[1].split("\n", 1)[0]


# Committed: the reset request's lookup runs on the background thread's own connection.
@pytest.mark.django_db(transaction=True)
def test_a_users_own_actions_are_each_audited_once(api, settings, deliver):
    settings.TOKEN_REFRESH_REUSE_GRACE_SECONDS = 0
    call = Caller(api)
    expected: dict[str, list[tuple[int, str, str, int | None]]] = {}
    secrets: list[str] = [PASSWORD, SECOND_PASSWORD, THIRD_PASSWORD]

    with deliver():
        body = assert_status(
            call("post", "/user", {"email": "audited@example.com", "password": PASSWORD}), 201
        )
    user = User.objects.get(pk=body["user_id"])
    me = user.pk
    secrets += [body["token"], body["refresh"]]
    expected[call.last] = [(me, "user.created", "user", me)]

    link = next(line for line in mail.outbox[-1].body.splitlines() if "/user/verify?" in line)
    secrets.append(link.rsplit("t=", 1)[1])
    assert_status(call("get", "/user/verify?" + link.split("?", 1)[1]), 200)
    expected[call.last] = [(me, "user.verified", "user", me)]

    assert (
        call("post", "/login", {"email": user.email, "password": "wrong guess"}).status_code == 401
    )
    expected[call.last] = [(me, "user.login_failed", "anonymous", None)]
    # An unknown address has no user: no entry at all.
    assert (
        call("post", "/login", {"email": "nobody@example.com", "password": "x"}).status_code == 401
    )
    expected[call.last] = []

    session = assert_status(
        call("post", "/login", {"email": user.email, "password": PASSWORD}), 201
    )
    secrets += [session["token"], session["refresh"]]
    expected[call.last] = [(me, "user.logged_in", "user", me)]

    # A refresh is no entry; its replay after the grace window revokes the session.
    rotated = assert_status(call("post", "/login/refresh", {"refresh": session["refresh"]}), 200)
    secrets += [rotated["token"], rotated["refresh"]]
    expected[call.last] = []
    assert call("post", "/login/refresh", {"refresh": session["refresh"]}).status_code == 401
    expected[call.last] = [(me, "session.revoked", "anonymous", None)]
    reuse = AuditEntry.objects.get(action="session.revoked")
    assert reuse.details == {
        "session_id": claims(session["token"])["sid"],
        "reason": "refresh_token_reuse",
    }

    session = assert_status(
        call("post", "/login", {"email": user.email, "password": PASSWORD}), 201
    )
    secrets += [session["token"], session["refresh"]]
    expected[call.last] = [(me, "user.logged_in", "user", me)]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {session['token']}"}
    change = {"user_id": me, "password": SECOND_PASSWORD, "current_password": PASSWORD}
    renewed = assert_status(call("put", "/user", change, **auth), 200)
    secrets += [renewed["token"], renewed["refresh"]]
    expected[call.last] = [(me, "user.password_changed", "user", me)]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {renewed['token']}"}

    email = {"user_id": me, "email": "moved@example.com", "current_password": SECOND_PASSWORD}
    with deliver():
        assert_status(call("put", "/user", email, **auth), 200)
    expected[call.last] = [(me, "user.updated", "user", me)]
    to_new = next(m for m in mail.outbox if m.to == ["moved@example.com"])
    link = next(line for line in to_new.body.splitlines() if "/user/verify?" in line)
    secrets.append(link.rsplit("t=", 1)[1])
    assert_status(call("get", "/user/verify?" + link.split("?", 1)[1]), 200)
    expected[call.last] = [(me, "user.email_changed", "user", me)]

    with deliver():
        assert (
            call("post", "/user/password/reset", {"email": "moved@example.com"}).status_code == 202
        )
    # The background job runs in the request's context: the request's id and address.
    expected[call.last] = [(me, "user.password_reset_requested", "anonymous", None)]
    code = mailed_code()
    secrets.append(code)
    reset = {"email": "moved@example.com", "token": code, "password": THIRD_PASSWORD}
    assert_status(call("post", "/user/password/change", reset), 200)
    expected[call.last] = [(me, "user.password_reset", "user", me)]

    session = assert_status(
        call("post", "/login", {"email": "moved@example.com", "password": THIRD_PASSWORD}), 201
    )
    secrets += [session["token"], session["refresh"]]
    expected[call.last] = [(me, "user.logged_in", "user", me)]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {session['token']}"}
    user_client = APIClient()
    user_client.credentials(**auth)
    secret = enrol(user_client)
    secrets.append(secret)
    now = steady_now()
    first_code = code_at(secret, now - 30)
    confirmed = assert_status(
        call("post", "/user/mfa/totp/confirm", {"code": first_code}, **auth), 200
    )
    secrets += [first_code, *confirmed["recovery_codes"]]
    expected[call.last] = [(me, "user.mfa_enabled", "user", me)]

    # The second step with a recovery code: used, then the login.
    first = assert_status(
        call("post", "/login", {"email": "moved@example.com", "password": THIRD_PASSWORD}), 200
    )
    secrets.append(first["mfa_token"])
    expected[call.last] = []
    step = {"mfa_token": first["mfa_token"], "recovery_code": confirmed["recovery_codes"][0]}
    mfa_session = assert_status(call("post", "/login/mfa", step), 201)
    secrets += [mfa_session["token"], mfa_session["refresh"]]
    expected[call.last] = [
        (me, "user.mfa_recovery_used", "user", me),
        (me, "user.logged_in", "user", me),
    ]
    second = assert_status(
        call("post", "/login", {"email": "moved@example.com", "password": THIRD_PASSWORD}), 200
    )
    secrets.append(second["mfa_token"])
    expected[call.last] = []
    assert (
        call("post", "/login/mfa", {"mfa_token": second["mfa_token"], "code": "000000"}).status_code
        == 401
    )
    expected[call.last] = [(me, "user.login_mfa_failed", "anonymous", None)]

    auth = {"HTTP_AUTHORIZATION": f"Bearer {mfa_session['token']}"}
    disable = {"code": code_at(secret, now)}
    secrets.append(disable["code"])
    assert call("delete", "/user/mfa/totp", disable, **auth).status_code == 204
    expected[call.last] = [(me, "user.mfa_disabled", "user", me)]

    upload = call.upload(b"some notes", "notes.txt", **auth)
    assert upload.status_code == 201, upload.content
    data_id = upload.json()["data_id"]
    expected[call.last] = [(me, "user.data.uploaded", "user", me)]
    assert call("delete", f"/user/data/{data_id}", **auth).status_code == 204
    expected[call.last] = [(me, "user.data.deleted", "user", me)]
    assert {
        e.details["filename"] for e in AuditEntry.objects.filter(action__startswith="user.data")
    } == {"notes.txt"}

    # A session on another device, ended from this one.
    other = claims(tokens_for(user).token)["sid"]
    assert call("delete", f"/user/sessions/{other}", **auth).status_code == 204
    expected[call.last] = [(me, "user.logged_out", "user", me)]
    assert AuditEntry.objects.get(action="user.logged_out").details == {"session_id": other}
    assert call("post", "/logout", **auth).status_code == 204
    expected[call.last] = [(me, "user.logged_out", "user", me)]

    # The user's rights over their data: an export, then the erasure.
    session = assert_status(
        call("post", "/login", {"email": "moved@example.com", "password": THIRD_PASSWORD}), 201
    )
    secrets += [session["token"], session["refresh"]]
    expected[call.last] = [(me, "user.logged_in", "user", me)]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {session['token']}"}
    export = assert_status(call("post", "/user/export", **auth), 202)
    expected[call.last] = [(me, "user.export_requested", "user", me)]
    assert AuditEntry.objects.get(action="user.export_requested").details == {
        "export_id": export["export_id"]
    }
    erase = {"current_password": THIRD_PASSWORD}
    assert_status(call("post", "/user/erase", erase, **auth), 202)
    expected[call.last] = [
        (me, "user.deactivated", "user", me),
        (me, "user.erase_requested", "user", me),
    ]

    for request_id, entries in expected.items():
        assert recorded(request_id) == entries, request_id
    # Exactly these: nothing else was recorded.
    assert AuditEntry.objects.count() == sum(len(entries) for entries in expected.values())
    assert set(AuditEntry.objects.values_list("subject_id", flat=True)) == {me}

    secrets += [u.password for u in User.objects.all()]
    dumped = json.dumps(list(AuditEntry.objects.values()), default=str)
    for value in secrets:
        assert value not in dumped
    assert "argon2" not in dumped


def test_an_admins_changes_through_the_api_name_the_admin(admin, user):
    call = Caller(client_for(admin))
    steps = [
        ({"user_id": user.pk, "role": "admin"}, "put", "user.updated"),
        ({"user_id": user.pk, "email": "renamed@example.com"}, "put", "user.email_changed"),
        ({"user_id": user.pk}, "delete", "user.deactivated"),
        ({"user_id": user.pk, "state": 0}, "put", "user.reactivated"),
    ]
    for body, method, action in steps:
        assert call(method, "/user", body).status_code in (200, 204)
        assert recorded(call.last) == [(user.pk, action, "admin", admin.pk)]
    assert AuditEntry.objects.get(action="user.updated").details == {"changes": ["role"]}
    # An admin's change of their own account is their own.
    call("put", "/user", {"user_id": admin.pk, "role": "admin", "state": 0})
    own = {"user_id": admin.pk, "password": SECOND_PASSWORD, "current_password": PASSWORD}
    assert call("put", "/user", own).status_code == 200
    assert recorded(call.last) == [(admin.pk, "user.password_changed", "user", admin.pk)]


def test_the_admin_sites_actions_name_the_admin(admin, user, other_user):
    browser = Client()
    call = Caller(browser)
    login_form = {"username": admin.email, "password": PASSWORD}
    assert call("post", "/admin/login/", login_form).status_code == 302
    assert recorded(call.last) == [(admin.pk, "user.logged_in", "user", admin.pk)]
    assert AuditEntry.objects.get(request_id=call.last).details == {"via": "admin_site"}

    tokens_for(user)
    steps = [
        ("deactivate", "user.deactivated"),
        ("reactivate", "user.reactivated"),
        ("reset_second_factors", "user.mfa_disabled"),
    ]
    for action, recorded_as in steps:
        form = {"action": action, "_selected_action": [user.pk]}
        assert call("post", "/admin/users/user/", form).status_code == 302
        assert recorded(call.last) == [(user.pk, recorded_as, "admin", admin.pk)], action

    sessions = [claims(tokens_for(u).token)["sid"] for u in (user, other_user)]
    form = {"action": "revoke", "_selected_action": sessions}
    assert call("post", "/admin/authn/session/", form).status_code == 302
    assert sorted(recorded(call.last)) == sorted(
        (u.pk, "session.revoked", "admin", admin.pk) for u in (user, other_user)
    )
    assert {e.details["reason"] for e in AuditEntry.objects.filter(request_id=call.last)} == {
        "admin"
    }

    password = {"password1": SECOND_PASSWORD, "password2": SECOND_PASSWORD}
    assert call("post", f"/admin/users/user/{user.pk}/password/", password).status_code == 302
    assert recorded(call.last) == [(user.pk, "user.password_changed", "admin", admin.pk)]

    added = {
        "email": "added@example.com",
        "password1": SECOND_PASSWORD,
        "password2": SECOND_PASSWORD,
        "role": "user",
    }
    assert call("post", "/admin/users/user/add/", added).status_code == 302
    new = User.objects.get(email="added@example.com")
    assert recorded(call.last) == [(new.pk, "user.created", "admin", admin.pk)]

    erasure = erasure_schedule(user=other_user, requested_by="admin", delay=timedelta(days=7))
    form = {"action": "cancel", "_selected_action": [erasure.pk]}
    assert call("post", "/admin/privacy/erasure/", form).status_code == 302
    assert recorded(call.last) == [(other_user.pk, "user.erase_cancelled", "admin", admin.pk)]

    assert call("post", "/admin/logout/").status_code == 200
    assert recorded(call.last) == [(admin.pk, "user.logged_out", "user", admin.pk)]

    # The user's admin page links to their entries, which the audit's admin lists.
    browser.force_login(admin)
    page = browser.get(f"/admin/users/user/{user.pk}/change/")
    link = f"/admin/audit/auditentry/?subject_id={user.pk}"
    assert link in page.content.decode()
    listing = browser.get(link)
    assert listing.status_code == 200
    assert (
        listing.context["cl"].result_count == AuditEntry.objects.filter(subject_id=user.pk).count()
    )
    entry = AuditEntry.objects.filter(subject_id=user.pk).first()
    assert entry is not None
    assert browser.get(f"/admin/audit/auditentry/{entry.pk}/change/").status_code == 200
    assert browser.post(f"/admin/audit/auditentry/{entry.pk}/delete/").status_code == 403


def test_a_command_is_a_system_action(user, other_user):
    call_command("mfa_reset", user.email, stdout=io.StringIO())
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor_kind, entry.actor_id) == ("user.mfa_disabled", "system", None)
    assert (entry.client_ip, entry.user_agent, entry.request_id) == (None, "", "")
    call_command("erase_user", str(other_user.pk), stdout=io.StringIO())
    entries = AuditEntry.objects.filter(subject_id=other_user.pk).order_by("id")
    assert [(e.action, e.actor_kind, e.actor_id, e.details) for e in entries] == [
        ("user.deactivated", "system", None, {}),
        ("user.erase_requested", "system", None, {"via": "system"}),
    ]


def test_the_audit_is_written_with_events_on_and_outlives_the_outbox(
    api, user, settings, monkeypatch
):
    for enabled in (False, True):
        settings.KAFKA_ENABLED = settings.KAFKA_PUBLISH_EVENTS = enabled
        assert login(api, user.email).status_code == 201
    assert AuditEntry.objects.filter(action="user.logged_in").count() == 2
    assert OutboxEvent.objects.filter(event_type="user.logged_in").count() == 1
    # The publisher's purge of sent outbox rows leaves the audit alone.
    OutboxEvent.objects.update(sent_at=timezone.now() - timedelta(hours=2))
    settings.KAFKA_OUTBOX_RETENTION_HOURS = 1
    monkeypatch.setattr(publisher, "_purged_at", float("-inf"))
    publisher._purge_if_due()
    assert not OutboxEvent.objects.exists()
    assert AuditEntry.objects.filter(action="user.logged_in").count() == 2


def test_a_rolled_back_action_leaves_no_entry(admin, user):
    with pytest.raises(RuntimeError), transaction.atomic():
        user_deactivate(actor=admin, user=user)
        assert AuditEntry.objects.filter(action="user.deactivated").exists()
        raise RuntimeError("the change failed")
    assert not AuditEntry.objects.exists()
    # A refused registration (a taken address) is rolled back whole: no entry.
    response = APIClient().post("/user", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 409
    assert not AuditEntry.objects.exists()


def test_entries_are_append_only(user):
    call_command("mfa_reset", user.email, stdout=io.StringIO())
    entry = AuditEntry.objects.get()
    entry.action = "user.nothing_happened"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        AuditEntry.objects.update(action="user.nothing_happened")


def test_purge_removes_entries_past_the_retention_only(user, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (400, 31, 29, 0):
        AuditEntry.objects.create(
            subject_id=user.pk,
            action="user.logged_in",
            actor_kind="user",
            occurred_at=now - timedelta(days=days),
        )
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    assert "2 audit entries" in out.getvalue()
    kept = AuditEntry.objects.values_list("occurred_at", flat=True)
    assert sorted((now - when).days for when in kept) == [0, 29]


def audit_page(client: APIClient, **query: Any) -> Any:
    return client.get("/user/audit", query)


def test_get_audit_pages_newest_first_and_filters(user, other_user, admin):
    for _ in range(3):
        assert login(APIClient(), user.email).status_code == 201
    assert login(APIClient(), user.email, "a wrong password").status_code == 401
    assert login(APIClient(), other_user.email).status_code == 201
    mine = list(AuditEntry.objects.filter(subject_id=user.pk).order_by("-id"))
    assert len(mine) == 4
    client = client_for(user)

    first = assert_status(audit_page(client, limit=3), 200)
    assert [e["id"] for e in first["entries"]] == [e.pk for e in mine[:3]]
    assert set(first["entries"][0]) == {
        "id",
        "action",
        "occurred_at",
        "actor_id",
        "actor_kind",
        "client_ip",
        "user_agent",
        "request_id",
        "details",
    }
    assert first["msg"] == "success" and first["next_cursor"]
    rest = assert_status(audit_page(client, limit=3, cursor=first["next_cursor"]), 200)
    assert [e["id"] for e in rest["entries"]] == [mine[3].pk] and rest["next_cursor"] is None

    failed = assert_status(audit_page(client, type="user.login_failed"), 200)["entries"]
    assert [(e["action"], e["actor_kind"]) for e in failed] == [("user.login_failed", "anonymous")]
    middle = mine[1].occurred_at
    since = assert_status(audit_page(client, since=middle.isoformat()), 200)["entries"]
    assert [e["id"] for e in since] == [e.pk for e in mine[:2]]
    until = assert_status(audit_page(client, until=middle.isoformat()), 200)["entries"]
    assert [e["id"] for e in until] == [e.pk for e in mine[2:]]

    # One's own id works; another user's is the same 404 as a missing one.
    assert len(assert_status(audit_page(client, user_id=user.pk), 200)["entries"]) == 4
    hidden = audit_page(client, user_id=other_user.pk)
    missing = audit_page(client, user_id=2**62)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    # Admins read anyone's; a user that does not exist is a 404 for them too.
    theirs = assert_status(audit_page(client_for(admin), user_id=other_user.pk), 200)["entries"]
    assert [e["action"] for e in theirs] == ["user.logged_in"]
    assert audit_page(client_for(admin), user_id=2**62).status_code == 404

    bad_queries = [
        {"limit": 0},
        {"limit": 101},
        {"cursor": "nope"},
        {"since": "yesterday"},
        {"until": ""},
        {"user_id": ""},
    ]
    for bad in bad_queries:
        assert audit_page(client, **bad).status_code == 400, bad
    assert APIClient().get("/user/audit").status_code == 401


def test_nothing_of_a_request_stays_for_the_next(admin, user):
    assert client_for(admin).get("/user/audit").status_code == 200
    assert REQUEST_CONTEXT.get() is None
    # The next request on this thread, anonymous, is not the admin's.
    assert login(APIClient(), user.email, "a wrong password").status_code == 401
    entry = AuditEntry.objects.get(action="user.login_failed")
    assert (entry.actor_kind, entry.actor_id) == ("anonymous", None)


def test_pseudonymising_a_long_trail_is_two_statements(
    user, other_user, admin, django_assert_max_num_queries
):
    from audit.services import audit_pseudonymise, entry_add
    from restapi.context import RequestContext

    context = RequestContext(
        client_ip="192.0.2.7", user_agent="agent", request_id="req-1", actor_id=user.pk
    )
    token = REQUEST_CONTEXT.set(context)
    try:
        for number in range(50):
            details = {"data_id": number, "filename": f"f{number}.txt", "via": "api"}
            entry_add(user_id=user.pk, action="user.data.uploaded", details=details)
        entry_add(user_id=other_user.pk, action="user.updated", details={"changes": ["role"]})
    finally:
        REQUEST_CONTEXT.reset(token)
    kept_other = AuditEntry.objects.get(subject_id=other_user.pk)
    with django_assert_max_num_queries(2):
        audit_pseudonymise(user_id=user.pk, pseudonym=-42)
    entries = AuditEntry.objects.filter(subject_id=-42)
    assert entries.count() == 50 and not AuditEntry.objects.filter(subject_id=user.pk).exists()
    assert {tuple(sorted(e.details)) for e in entries} == {("data_id", "via")}
    assert set(entries.values_list("client_ip", "user_agent", "request_id", "actor_id")) == {
        (None, "", "", -42)
    }
    # What they did to another account keeps that account's subject, not their address.
    other = AuditEntry.objects.get(pk=kept_other.pk)
    assert (other.subject_id, other.actor_id, other.client_ip) == (other_user.pk, -42, None)
    assert other.details == {"changes": ["role"]}


def test_deleting_a_user_reads_no_audit_rows(user):
    """The trail keeps a plain subject id: no foreign key for a delete to follow through
    a table that only ever grows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.services import entry_add

    user_id = user.pk
    entry_add(user_id=user_id, action="user.updated", details={})
    with CaptureQueriesContext(connection) as queries:
        user.delete()
    assert not [query["sql"] for query in queries if "audit_log" in query["sql"]]
    assert AuditEntry.objects.filter(subject_id=user_id).count() == 1


def test_the_admins_list_of_a_users_entries_reads_only_theirs(admin, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.services import entry_add

    entry_add(user_id=user.pk, action="user.updated", details={})
    browser = Client()
    browser.force_login(admin)
    with CaptureQueriesContext(connection) as queries:
        page = browser.get(f"/admin/audit/auditentry/?subject_id={user.pk}&action=user.updated")
    assert page.status_code == 200 and page.context["cl"].result_count == 1
    reads = [query["sql"] for query in queries if 'FROM "audit_log"' in query["sql"]]
    assert reads and all('"subject_id" =' in sql for sql in reads), reads


def test_an_entry_keeps_only_the_allowed_details(user):
    from audit.services import entry_add

    entry = entry_add(
        user_id=user.pk,
        action="user.updated",
        details={"token": "s3cret", "password": "p", "code": "123456", "via": "api"},
    )
    entry.refresh_from_db()
    assert entry.details == {"via": "api"}
