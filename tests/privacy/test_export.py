"""POST /user/export and GET /user/export/{id}, with the job run in-process against the real
database and the real storage (moto's S3, or a local directory)."""

import hashlib
import io
import json
import time
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from privacy import services
from privacy.models import Export, ExportState
from tests.fixtures.storage import S3_BUCKET
from tests.helpers import assert_error, assert_status, client_for, counted
from userdata import storage
from userdata.models import UserFile

pytestmark = pytest.mark.django_db


def upload(client, body, filename="notes.txt"):
    response = client.generic(
        "POST", "/user/data", body, content_type="text/plain", HTTP_FILENAME=filename
    )
    return assert_status(response, 201)


def run_jobs():
    while services.jobs_run_once():
        pass


def exported(client):
    """Asks for an export, runs the job, downloads the archive."""
    accepted = assert_status(client.post("/user/export"), 202)
    run_jobs()
    response = client.get(f"/user/export/{accepted['export_id']}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    assert response["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    return accepted, zipfile.ZipFile(io.BytesIO(body))


@pytest.mark.parametrize("where", ["s3", "local"])
def test_an_export_holds_every_record_and_byte_identical_files(
    request, where, user, other_user, make_user
):
    if where == "s3":
        request.getfixturevalue("s3")
    client = client_for(user)
    bodies = {
        "a.txt": b"first file\n" * 1000,
        "../b.bin": bytes(range(256)) * 5000,
        'we?ird:<na|me>*".txt': b"third",
    }
    records = {upload(client, body, name)["data_id"]: body for name, body in bodies.items()}
    upload(client_for(other_user), b"not theirs", "secret.txt")
    accepted, archive = exported(client)
    assert accepted["state"] == "pending" and accepted["msg"]
    names = set(archive.namelist())
    assert {"profile.json", "sessions.json", "files.json", "audit.json"} <= names
    files = json.loads(archive.read("files.json"))
    assert {record["data_id"] for record in files} == set(records)
    for record in files:
        data = archive.read(record["path"])
        # No folder of the client's naming: a hostile name cannot escape the folder, and
        # every system can extract it.
        assert record["path"].startswith("files/") and record["path"].count("/") == 1
        assert not set(record["path"]) & set('\\:<>"|?*')
        stamp = archive.getinfo(record["path"]).date_time
        assert stamp[:3] == tuple(int(part) for part in record["created_at"][:10].split("-"))
        assert hashlib.sha256(data).hexdigest() == record["sha256"]
        assert data == records[record["data_id"]]
    assert not any("secret" in name for name in names)
    profile = json.loads(archive.read("profile.json"))
    assert profile["user"]["user_id"] == user.pk and profile["user"]["email"] == user.email
    sessions = json.loads(archive.read("sessions.json"))
    assert sessions and all("session_id" in session for session in sessions)
    audit = json.loads(archive.read("audit.json"))
    assert {entry["action"] for entry in audit} >= {"user.data.uploaded", "user.export_requested"}
    assert len(audit) == AuditEntry.objects.filter(subject_id=user.pk).count()
    text = b"".join(archive.read(name) for name in ("profile.json", "sessions.json", "audit.json"))
    assert user.password.encode() not in text


def test_progress_then_ready_and_the_archive_in_the_users_prefix(user, s3, settings):
    client = client_for(user)
    upload(client, b"x" * 1000)
    accepted = assert_status(client.post("/user/export"), 202)
    response = client.get(f"/user/export/{accepted['export_id']}")
    progress = assert_status(response, 202)
    assert response["Retry-After"] and progress["state"] == "pending"
    run_jobs()
    export = Export.objects.get(pk=accepted["export_id"])
    assert export.state == ExportState.READY
    assert (export.files_done, export.files_total, export.bytes_done) == (1, 1, 1000)
    assert export.key == f"{settings.S3_DATA_PREFIX}/{user.pk}/exports/{export.pk}.zip"
    head = s3.head_object(Bucket=S3_BUCKET, Key=export.key)
    assert head["ContentLength"] == export.size_in_bytes
    settings.S3_PRESIGNED_DOWNLOADS = True
    response = client.get(f"/user/export/{export.pk}")
    assert response.status_code == 302 and export.key in response["Location"]


def test_another_users_export_and_an_unknown_id_are_404(user, other_user, admin):
    accepted = assert_status(client_for(user).post("/user/export"), 202)
    run_jobs()
    for client in (client_for(other_user), client_for(admin)):
        assert_error(client.get(f"/user/export/{accepted['export_id']}"), 404, "not_found")
    assert_error(client_for(user).get(f"/user/export/{uuid.uuid4()}"), 404, "not_found")
    assert client_for(user).get("/user/export/not-a-uuid").status_code == 404


def test_an_export_needs_a_recent_authentication(user, settings):
    client = client_for(user)
    settings.MFA_STEP_UP_SECONDS = 0
    time.sleep(1.1)
    assert_error(client.post("/user/export"), 401, "step_up_required")
    assert not Export.objects.exists()


def test_asking_again_answers_the_export_in_progress_and_the_rate_is_limited(user, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "export_account": "2/3600"}
    client = client_for(user)
    first = assert_status(client.post("/user/export"), 202)
    assert assert_status(client.post("/user/export"), 202)["export_id"] == first["export_id"]
    run_jobs()
    assert_status(client.post("/user/export"), 202)
    run_jobs()
    assert_error(client.post("/user/export"), 429, "rate_limited")
    assert Export.objects.filter(user=user).count() == 2


def test_storage_down_retries_later_then_fails_and_no_archive_is_left(user, s3, settings):
    client = client_for(user)
    upload(client, b"y" * 100)
    accepted = assert_status(client.post("/user/export"), 202)
    settings.USER_EXPORT_MAX_ATTEMPTS = 2
    real = settings.S3_ENDPOINT_URL
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    retried = counted("restapi_exports_total", outcome="retried")
    run_jobs()
    export = Export.objects.get(pk=accepted["export_id"])
    assert export.state == ExportState.PENDING and export.last_error
    assert counted("restapi_exports_total", outcome="retried") == retried + 1
    assert assert_status(client.get(f"/user/export/{export.pk}"), 202)["state"] == "pending"
    Export.objects.filter(pk=export.pk).update(next_attempt_at=timezone.now())
    run_jobs()
    export.refresh_from_db()
    assert export.state == ExportState.FAILED
    assert_error(client.get(f"/user/export/{export.pk}"), 409, "export_failed")
    settings.S3_ENDPOINT_URL = real
    assert not s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=export.key).get("KeyCount")


def test_a_file_that_cannot_be_read_fails_the_attempt_not_the_archive(user, s3, monkeypatch):
    """A truncated archive is never stored as a whole one."""
    client = client_for(user)
    upload(client, b"z" * 5000)
    accepted = assert_status(client.post("/user/export"), 202)
    opened = storage.object_chunks

    def failing(key):
        if "/exports/" not in key:
            raise storage.StorageError("read failed")
        return opened(key)

    monkeypatch.setattr(storage, "object_chunks", failing)
    run_jobs()
    export = Export.objects.get(pk=accepted["export_id"])
    assert export.state == ExportState.PENDING and "read failed" in export.last_error
    assert not s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=export.key).get("KeyCount")


def test_a_runner_that_died_midway_is_replaced_when_its_lease_runs_out(user, s3):
    client = client_for(user)
    upload(client, b"w" * 100)
    accepted = assert_status(client.post("/user/export"), 202)
    claimed = services.export_claim()
    assert claimed is not None and claimed.state == ExportState.RUNNING
    assert services.export_claim() is None  # held: no other runner takes it
    Export.objects.filter(pk=claimed.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    run_jobs()
    export = Export.objects.get(pk=accepted["export_id"])
    assert (export.state, export.attempts) == (ExportState.READY, 2)


def test_expired_exports_and_their_archives_are_deleted(user, s3, settings):
    client = client_for(user)
    accepted = assert_status(client.post("/user/export"), 202)
    run_jobs()
    export = Export.objects.get(pk=accepted["export_id"])
    assert s3.head_object(Bucket=S3_BUCKET, Key=export.key)
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now())
    assert_error(client.get(f"/user/export/{export.pk}"), 404, "not_found")
    expired = counted("restapi_exports_total", outcome="expired")
    run_jobs()
    assert not Export.objects.filter(pk=export.pk).exists()
    assert not s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=export.key).get("KeyCount")
    assert counted("restapi_exports_total", outcome="expired") == expired + 1


def test_reconcile_storage_leaves_exports_alone(user, s3):
    from django.core.management import call_command

    client = client_for(user)
    accepted = assert_status(client.post("/user/export"), 202)
    run_jobs()
    key = Export.objects.get(pk=accepted["export_id"]).key
    call_command("reconcile_storage", "--delete", "--grace-minutes", "0")
    assert s3.head_object(Bucket=S3_BUCKET, Key=key)
    assert not UserFile.objects.exists()


def test_an_expired_export_waits_for_storage_before_its_row_goes(user, s3, settings):
    client = client_for(user)
    accepted = assert_status(client.post("/user/export"), 202)
    run_jobs()
    export = Export.objects.get(pk=accepted["export_id"])
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now())
    real = settings.S3_ENDPOINT_URL
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    assert services.jobs_run_once() is False
    assert Export.objects.filter(pk=export.pk).exists()  # kept, to find the archive by
    settings.S3_ENDPOINT_URL = real
    run_jobs()
    assert not Export.objects.filter(pk=export.pk).exists()
    assert not s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=export.key).get("KeyCount")
