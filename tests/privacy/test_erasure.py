"""POST /user/erase, manage.py erase_user and the erasure job, against the real database
and the real storage (moto's S3, or a local directory)."""

import io
import json
import threading
import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from auth.models import LoginThrottle, RateBucket, Session
from auth.ratelimit import account_key, bucket_take
from kafka_events.models import OutboxEvent
from mfa.models import RecoveryCode, Totp
from privacy import services
from privacy.models import Erasure, ErasureState, ErasureStep, Export
from restapi.commands import EXIT_UNAVAILABLE
from tests.fixtures.storage import S3_BUCKET
from tests.helpers import PASSWORD, assert_error, assert_status, client_for, counted
from userdata import storage
from userdata.models import UserFile
from userdata.services import file_upload, user_prefix
from users.models import OneTimeToken, TokenPurpose, User, UserState

pytestmark = pytest.mark.django_db


def user_foreign_keys():
    """Every column that references a user, read from the models: a new table cannot be
    forgotten."""
    user_model = apps.get_model("users", "User")
    return [
        (model, field.attname)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is user_model
    ]


def rows_about(user_id):
    counts = {
        f"{model._meta.db_table}.{column}": model._default_manager.filter(
            **{column: user_id}
        ).count()
        for model, column in user_foreign_keys()
    }
    counts["audit_log.subject_id"] = AuditEntry.objects.filter(subject_id=user_id).count()
    counts["audit_log.actor_id"] = AuditEntry.objects.filter(actor_id=user_id).count()
    counts["users.id"] = User.objects.filter(pk=user_id).count()
    return {table: count for table, count in counts.items() if count}


def upload(client, body=b"bytes of a file\n", filename="notes.txt"):
    response = client.generic(
        "POST", "/user/data", body, content_type="text/plain", HTTP_FILENAME=filename
    )
    return assert_status(response, 201)


def stored_keys(prefix):
    return [key for key, _ in storage.backend().keys(prefix)]


def with_everything(user, files=3):
    """A user with files, an export, sessions, a one-time token, a second factor, counters
    and audit entries."""
    client = client_for(user)
    for number in range(files):
        upload(client, f"file {number}\n".encode() * 100, f"file-{number}.txt")
    assert_status(client.post("/user/export"), 202)
    while services.jobs_run_once():
        pass
    OneTimeToken.objects.create(
        user=user,
        purpose=TokenPurpose.PASSWORD_RESET,
        token_hash="0" * 64,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    Totp.objects.create(user=user, secret="encrypted", confirmed_at=timezone.now())
    RecoveryCode.objects.create(user=user, code_hash="1" * 64)
    LoginThrottle.objects.create(key=account_key(user.email), failures=2)
    bucket_take(action="export_account", key=str(user.pk))
    return client


def erase_now(user, django_capture_on_commit_callbacks):
    client = client_for(user)
    with django_capture_on_commit_callbacks(execute=True):
        body = assert_status(
            client.post("/user/erase", {"current_password": PASSWORD}, format="json"), 202
        )
    Erasure.objects.filter(user_id=user.pk).update(due_at=timezone.now())
    return body


def run_jobs():
    while services.jobs_run_once():
        pass


@pytest.mark.parametrize("where", ["s3", "local"])
def test_erasure_leaves_no_row_and_no_object_and_spares_everyone_else(
    request, where, user, other_user, make_user, django_capture_on_commit_callbacks, api
):
    if where == "s3":
        request.getfixturevalue("s3")
    with_everything(user)
    with_everything(other_user)
    email, user_id = user.email, user.pk
    others_before = rows_about(other_user.pk)
    others_objects = stored_keys(user_prefix(other_user.pk))
    assert rows_about(user_id) and stored_keys(user_prefix(user_id))
    entries = AuditEntry.objects.filter(subject_id=user_id).count()
    body = erase_now(user, django_capture_on_commit_callbacks)
    assert body["state"] == "scheduled" and body["user_id"] == user_id
    completed = counted("restapi_erasures_total", outcome="completed")
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    assert rows_about(user_id) == {}
    assert stored_keys(user_prefix(user_id)) == []
    if where == "local":
        assert not (storage.backend().root / user_prefix(user_id)).exists()
    assert not LoginThrottle.objects.filter(key=account_key(email)).exists()
    assert not RateBucket.objects.filter(key=f"export_account:{user_id}").exists()
    # The trail keeps what happened, under a pseudonym, with nothing that leads back.
    kept = AuditEntry.objects.filter(subject_id__lt=0)
    assert kept.count() == entries + 2  # and the erasure's request, and the deactivation
    assert len(set(kept.values_list("subject_id", flat=True))) == 1
    assert not kept.exclude(client_ip=None).exists()
    assert not kept.exclude(user_agent="").exists() and not kept.exclude(request_id="").exists()
    assert not any("filename" in details for details in kept.values_list("details", flat=True))
    erasure = Erasure.objects.get(user_id=user_id)
    assert (erasure.state, erasure.files_deleted) == (ErasureState.DONE, 3)
    assert counted("restapi_erasures_total", outcome="completed") == completed + 1
    # Everyone else's is untouched, and the address can be registered again.
    assert rows_about(other_user.pk) == others_before
    assert stored_keys(user_prefix(other_user.pk)) == others_objects
    again = {"email": email, "password": PASSWORD}
    assert api.post("/user", again, format="json").status_code == 201


def test_the_request_revokes_every_session_deactivates_and_tells_the_owner(
    user, django_capture_on_commit_callbacks
):
    from django.core import mail

    from restapi import background

    other_session = client_for(user)
    requested = counted("restapi_erasures_total", outcome="requested")
    body = erase_now(user, django_capture_on_commit_callbacks)
    assert body["msg"] and body["due_at"]
    background.wait()
    [notice] = mail.outbox
    assert notice.to == [user.email] and "deleted for good" in notice.body
    user.refresh_from_db()
    assert user.state == UserState.DEACTIVATED
    assert not Session.objects.live().filter(user_id=user.pk).exists()
    assert_error(other_session.get(f"/user/{user.pk}"), 401, "invalid_token")
    assert counted("restapi_erasures_total", outcome="requested") == requested + 1
    assert AuditEntry.objects.filter(subject_id=user.pk, action="user.erase_requested").exists()


def test_the_grace_period_holds_the_deletion(user, settings):
    settings.USER_ERASE_GRACE_SECONDS = 3600
    client = client_for(user)
    body = assert_status(
        client.post("/user/erase", {"current_password": PASSWORD}, format="json"), 202
    )
    run_jobs()
    assert User.objects.filter(pk=user.pk).exists()
    erasure = Erasure.objects.get(user_id=user.pk)
    assert erasure.state == ErasureState.SCHEDULED
    assert abs((erasure.due_at - timezone.now()).total_seconds() - 3600) < 60
    assert body["due_at"]


def test_the_owner_needs_the_password_and_a_recent_authentication(user, settings):
    client = client_for(user)
    for body in ({}, {"current_password": "wrong password"}):
        response = client.post("/user/erase", body, format="json")
        assert assert_error(response, 400, "validation_error")["errors"]["current_password"]
    settings.MFA_STEP_UP_SECONDS = 0
    time.sleep(1.1)
    response = client.post("/user/erase", {"current_password": PASSWORD}, format="json")
    assert_error(response, 401, "step_up_required")
    user.refresh_from_db()
    assert user.is_active and not Erasure.objects.exists()


def test_a_user_cannot_erase_another_but_an_admin_can(user, other_user, admin):
    body = {"user_id": other_user.pk, "current_password": PASSWORD}
    assert_error(client_for(user).post("/user/erase", body, format="json"), 404, "not_found")
    assert not Erasure.objects.exists()
    erased = assert_status(
        client_for(admin).post("/user/erase", {"user_id": other_user.pk}, format="json"), 202
    )
    assert erased["user_id"] == other_user.pk
    erasure = Erasure.objects.get(user_id=other_user.pk)
    assert erasure.requested_by == "admin"
    entry = AuditEntry.objects.get(subject_id=other_user.pk, action="user.erase_requested")
    assert (entry.actor_kind, entry.actor_id) == ("admin", admin.pk)


def test_asking_again_is_harmless(user, admin, settings):
    settings.USER_ERASE_GRACE_SECONDS = 3600
    first = assert_status(
        client_for(admin).post("/user/erase", {"user_id": user.pk}, format="json"), 202
    )
    again = assert_status(
        client_for(admin).post("/user/erase", {"user_id": user.pk}, format="json"), 202
    )
    assert first["due_at"] == again["due_at"]
    assert Erasure.objects.count() == 1
    assert AuditEntry.objects.filter(action="user.erase_requested").count() == 1


def test_a_crash_midway_resumes_to_the_same_end_state(
    user, s3, monkeypatch, django_capture_on_commit_callbacks
):
    with_everything(user, files=5)
    erase_now(user, django_capture_on_commit_callbacks)
    monkeypatch.setattr(services, "ERASE_BATCH", 2)
    real = storage.delete_keys
    calls = []

    def crashing(keys):
        calls.append(keys)
        if len(calls) == 2:
            real(keys)  # the objects are gone, their rows not yet: the worst moment
            raise SystemExit("the worker was killed")
        real(keys)

    monkeypatch.setattr(storage, "delete_keys", crashing)
    with pytest.raises(SystemExit):
        run_jobs()
    erasure = Erasure.objects.get(user_id=user.pk)
    assert (erasure.state, erasure.step, erasure.files_deleted) == ("running", "files", 2)
    assert UserFile.objects.filter(user_id=user.pk).count() == 3
    run_jobs()  # held by the dead runner's lease: nothing happens yet
    assert Erasure.objects.get(user_id=user.pk).state == ErasureState.RUNNING
    Erasure.objects.filter(pk=erasure.pk).update(lease_until=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    erasure.refresh_from_db()
    assert (erasure.state, erasure.files_deleted) == (ErasureState.DONE, 5)
    assert rows_about(user.pk) == {}
    assert stored_keys(user_prefix(user.pk)) == []


def test_storage_down_retries_later_and_is_never_done_with_objects_left(
    user, s3, settings, django_capture_on_commit_callbacks
):
    with_everything(user)
    erase_now(user, django_capture_on_commit_callbacks)
    real = settings.S3_ENDPOINT_URL
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    retried = counted("restapi_erasures_total", outcome="retried")
    run_jobs()
    erasure = Erasure.objects.get(user_id=user.pk)
    assert (erasure.state, erasure.attempts) == (ErasureState.SCHEDULED, 1)
    assert erasure.last_error and erasure.next_attempt_at > timezone.now()
    assert counted("restapi_erasures_total", outcome="retried") == retried + 1
    assert User.objects.filter(pk=user.pk).exists()
    assert UserFile.objects.filter(user_id=user.pk).count() == 3
    settings.S3_ENDPOINT_URL = real
    run_jobs()  # not before its retry is due
    assert Erasure.objects.get(user_id=user.pk).state == ErasureState.SCHEDULED
    Erasure.objects.filter(pk=erasure.pk).update(next_attempt_at=timezone.now())
    run_jobs()
    assert Erasure.objects.get(user_id=user.pk).state == ErasureState.DONE
    assert rows_about(user.pk) == {} and stored_keys(user_prefix(user.pk)) == []


def test_an_upload_that_lands_during_the_erasure_is_erased_too(
    user, s3, django_capture_on_commit_callbacks
):
    with_everything(user, files=1)
    erase_now(user, django_capture_on_commit_callbacks)
    erasure = services.erasure_claim()
    assert erasure is not None
    erasure.step = ErasureStep.ROWS  # as if the files step had just finished
    erasure.save()
    # Its request had authenticated before the erasure was asked for.
    file_upload(
        owner=user,
        body=io.BytesIO(b"late"),
        length=4,
        filename="late.txt",
        content_type="text/plain",
    )
    assert not services.erasure_run(erasure)
    run_jobs()
    assert rows_about(user.pk) == {} and stored_keys(user_prefix(user.pk)) == []


def test_erase_user_command_schedules_cancels_and_runs_now(user, s3, settings):
    settings.USER_ERASE_GRACE_SECONDS = 3600
    with_everything(user)
    out = io.StringIO()
    call_command("erase_user", str(user.pk), stdout=out)
    assert "will be erased at" in out.getvalue()
    user.refresh_from_db()
    assert user.state == UserState.DEACTIVATED
    assert Erasure.objects.get(user_id=user.pk).requested_by == "system"
    out = io.StringIO()
    call_command("erase_user", str(user.pk), "--cancel", stdout=out)
    assert "Cancelled" in out.getvalue()
    assert Erasure.objects.get(user_id=user.pk).state == ErasureState.CANCELLED
    run_jobs()
    assert User.objects.filter(pk=user.pk).exists()
    with pytest.raises(CommandError, match="not scheduled"):
        call_command("erase_user", str(user.pk), "--cancel")
    out = io.StringIO()
    call_command("erase_user", str(user.pk), "--now", stdout=out)
    assert "Erased user" in out.getvalue() and "3 files" in out.getvalue()
    assert rows_about(user.pk) == {} and stored_keys(user_prefix(user.pk)) == []
    out = io.StringIO()
    call_command("erase_user", str(user.pk), "--now", stdout=out)
    assert "was erased at" in out.getvalue()
    with pytest.raises(CommandError, match="No user 999999"):
        call_command("erase_user", "999999")


def test_erase_user_now_with_storage_down_says_so_and_leaves_it_scheduled(user, s3, settings):
    with_everything(user, files=1)
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="Storage failed") as failure:
        call_command("erase_user", str(user.pk), "--now")
    assert failure.value.returncode == EXIT_UNAVAILABLE
    assert Erasure.objects.get(user_id=user.pk).state == ErasureState.SCHEDULED
    assert User.objects.filter(pk=user.pk).exists()


def test_an_erasure_request_withdraws_an_export_being_made(
    user, s3, django_capture_on_commit_callbacks
):
    client = client_for(user)
    assert_status(client.post("/user/export"), 202)
    erase_now(user, django_capture_on_commit_callbacks)
    assert not Export.objects.filter(user_id=user.pk).exists()
    assert s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=user_prefix(user.pk))["KeyCount"] == 0


@pytest.mark.django_db(transaction=True)
def test_user_erased_and_the_tombstone_reach_the_broker(user, other_user, s3, kafka, kafka_broker):
    from kafka_events.producer import publisher
    from tests.fixtures.kafka import consume

    with_everything(user, files=2)
    upload(client_for(other_user), b"theirs", "theirs.txt")
    call_command("erase_user", str(user.pk), "--now", stdout=io.StringIO())
    key = f"user-{user.pk}"
    # Nothing was published before: every event of the user is still in the outbox.
    count = OutboxEvent.objects.filter(key=key).count()
    while publisher.publish_pending():
        pass
    messages = consume(kafka_broker.address, kafka, count=count, where=lambda m: m["key"] == key)
    erased, tombstone = messages[-2:]
    body = json.loads(erased["value"])
    assert (body["type"], body["user_id"], body["data"]) == (
        "user.erased",
        user.pk,
        {"user_id": user.pk},
    )
    assert tombstone["value"] is None
    # The tombstone is the user's last message; no event was sent for each erased file.
    types = [json.loads(m["value"])["type"] for m in messages[:-1]]
    assert types.count("user.data.deleted") == 0 and types.count("user.erased") == 1
    others = OutboxEvent.objects.filter(key=f"user-{other_user.pk}")
    assert others.filter(event_type="user.data.uploaded").exists()


@pytest.mark.django_db(transaction=True)
def test_erase_user_now_follows_an_erasure_a_runner_of_the_service_took_first(user, s3):
    with_everything(user, files=2)
    services.erasure_schedule(user=user, requested_by="admin", delay=timedelta(0))
    taken = services.erasure_claim()
    assert taken is not None

    def the_services_runner():
        try:
            time.sleep(1)
            services.erasure_run(taken)
        finally:
            connection.close()

    runner = threading.Thread(target=the_services_runner)
    runner.start()
    out = io.StringIO()
    call_command("erase_user", str(user.pk), "--now", stdout=out)
    runner.join()
    assert "running in the service; waiting" in out.getvalue()
    assert "Erased user" in out.getvalue() and "2 files" in out.getvalue()
    assert rows_about(user.pk) == {}


def test_metrics_show_pending_and_overdue_erasures(user, other_user, api):
    def gauge(name):
        text = api.get("/metrics").content.decode()
        [line] = [line for line in text.splitlines() if line.startswith(f"{name} ")]
        return float(line.split()[1])

    assert (gauge("restapi_erasures_pending"), gauge("restapi_erasures_overdue_seconds")) == (0, 0)
    services.erasure_schedule(user=user, requested_by="admin", delay=timedelta(days=7))
    services.erasure_schedule(user=other_user, requested_by="admin", delay=timedelta(0))
    Erasure.objects.filter(user_id=other_user.pk).update(due_at=timezone.now() - timedelta(hours=2))
    assert gauge("restapi_erasures_pending") == 2
    assert 7200 <= gauge("restapi_erasures_overdue_seconds") < 7300
