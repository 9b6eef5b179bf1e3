import hashlib
import importlib
import io
import re

import pytest
import requests
from botocore.exceptions import EndpointConnectionError
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.db.migrations.loader import MigrationLoader

from restapi.commands import EXIT_BAD_INPUT, EXIT_UNAVAILABLE
from restapi.exceptions import IncompleteBody
from tests.fixtures.storage import S3_BUCKET
from tests.helpers import assert_error, client_for, counted, file_row, free_port
from userdata import services, storage
from userdata.models import UserFile

pytestmark = pytest.mark.django_db

BODY = b"hello, stored world\n" * 100


def upload(client, body=BODY, content_type="text/plain", **headers):
    headers.setdefault("HTTP_FILENAME", "notes.txt")
    return client.generic("POST", "/user/data", body, content_type=content_type, **headers)


def objects(s3):
    return [item["Key"] for item in s3.list_objects_v2(Bucket=S3_BUCKET).get("Contents", [])]


def multipart_uploads(s3):
    return s3.list_multipart_uploads(Bucket=S3_BUCKET).get("Uploads", [])


def uploaded(client, **kwargs):
    response = upload(client, **kwargs)
    assert response.status_code == 201, response.content
    return response.json()


def test_upload_streams_to_s3_with_a_server_made_key(user_client, user, s3, settings):
    stored_bytes = counted("restapi_upload_bytes_total")
    record = uploaded(
        user_client,
        HTTP_DATA_TYPE="notes",
        HTTP_ENCODING="utf-8",
        HTTP_COMMENTS="first",
    )
    # The record at the top level, as the Rust service answered an upload.
    assert (record["user_id"], record["msg"]) == (user.pk, "success")
    assert (record["filename"], record["data_type"], record["encoding"], record["comments"]) == (
        "notes.txt",
        "notes",
        "utf-8",
        "first",
    )
    assert record["size_in_bytes"] == len(BODY)
    assert counted("restapi_upload_bytes_total") == stored_bytes + len(BODY)
    assert record["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert record["content_type"] == "text/plain"
    key = record["sloc"].removeprefix(f"s3://{S3_BUCKET}/")
    assert re.fullmatch(
        rf"{settings.S3_DATA_PREFIX}/{user.pk}/\d{{4}}/\d\d/\d\d/[0-9a-f]{{32}}", key
    )
    assert objects(s3) == [key]
    assert s3.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read() == BODY


def test_download_streams_the_bytes_with_integrity_headers(user_client, s3):
    record = uploaded(user_client, HTTP_FILENAME='Résumé "final".txt')
    response = user_client.get(f"/user/data/{record['data_id']}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == BODY
    assert response["Content-Length"] == str(len(BODY))
    assert response["Content-Type"] == "text/plain"
    assert response["ETag"] == f'"{record["sha256"]}"'
    assert response["Digest"].startswith("sha-256=")
    assert response["Content-Disposition"] == (
        'attachment; filename="R_sum_ _final_.txt"; '
        "filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.txt"
    )
    assert response["Content-Security-Policy"] == "sandbox"


def test_path_traversal_filenames_never_reach_the_key(user_client, s3):
    record = uploaded(user_client, HTTP_FILENAME="../../../etc/passwd")
    assert ".." not in record["sloc"] and "passwd" not in record["sloc"]
    assert record["filename"] == "../../../etc/passwd"
    response = user_client.get(f"/user/data/{record['data_id']}")
    assert 'filename=".._.._.._etc_passwd"' in response["Content-Disposition"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"body": b"", "CONTENT_LENGTH": "0"}, 400, "validation_error"),
        ({"HTTP_FILENAME": ""}, 400, "validation_error"),
        ({"HTTP_FILENAME": "x" * 256}, 400, "validation_error"),
        ({"content_type": "not a type"}, 400, "validation_error"),
        ({"HTTP_USER_ID": "abc"}, 400, "validation_error"),
        ({"CONTENT_LENGTH": ""}, 411, "length_required"),
    ],
)
def test_bad_uploads_are_refused_and_store_nothing(user_client, s3, kwargs, status, code):
    assert_error(upload(user_client, **kwargs), status, code)
    assert objects(s3) == []
    assert not UserFile.objects.exists()


def test_missing_filename_is_400(user_client, s3):
    response = user_client.generic("POST", "/user/data", BODY, content_type="text/plain")
    assert "filename" in assert_error(response, 400, "validation_error")["errors"]


def test_oversize_upload_is_413_before_reading(user_client, s3, settings):
    settings.USER_DATA_MAX_BYTES = len(BODY) - 1
    assert_error(upload(user_client), 413, "payload_too_large")
    assert objects(s3) == [] and multipart_uploads(s3) == []
    assert not UserFile.objects.exists()


def test_quota_is_enforced(user_client, s3, settings):
    settings.USER_DATA_QUOTA_BYTES = len(BODY) * 2
    uploaded(user_client)
    uploaded(user_client)
    assert_error(upload(user_client, body=b"x"), 413, "quota_exceeded")
    assert len(objects(s3)) == 2
    assert UserFile.objects.count() == 2


def test_storage_failure_mid_upload_leaves_no_row_object_or_multipart(user_client, s3, settings):
    settings.S3_MULTIPART_CHUNK_BYTES = 5 * 1024 * 1024
    parts = []

    def fail_second_part(**kwargs):
        parts.append(1)
        if len(parts) >= 2:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")

    client = storage.backend().client
    client.meta.events.register("before-send.s3.UploadPart", fail_second_part)
    try:
        response = upload(user_client, body=b"z" * (12 * 1024 * 1024))
    finally:
        client.meta.events.unregister("before-send.s3.UploadPart", fail_second_part)
    assert_error(response, 503, "storage_unavailable")
    assert response["Retry-After"] == "5"
    assert len(parts) >= 2
    assert not UserFile.objects.exists()
    assert objects(s3) == []
    assert multipart_uploads(s3) == []


def test_body_shorter_than_its_length_stores_nothing_and_counts_nothing(user, s3):
    stored_bytes = counted("restapi_upload_bytes_total")
    with pytest.raises(IncompleteBody):
        services.file_upload(
            owner=user,
            body=io.BytesIO(BODY),
            length=len(BODY) + 10,
            filename="short.txt",
            content_type="text/plain",
        )
    assert not UserFile.objects.exists()
    assert objects(s3) == []
    assert counted("restapi_upload_bytes_total") == stored_bytes


def test_database_failure_after_storing_deletes_the_object(user_client, s3, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("userdata.services.UserFile.objects.create", down)
    stored_bytes = counted("restapi_upload_bytes_total")
    assert_error(upload(user_client), 503, "database_unavailable")
    assert objects(s3) == []
    assert counted("restapi_upload_bytes_total") == stored_bytes


def test_upload_for_another_user(user_client, admin_client, other_user, s3):
    forbidden = upload(user_client, HTTP_USER_ID=str(other_user.pk))
    assert_error(forbidden, 403, "permission_denied")
    assert objects(s3) == []
    record = uploaded(admin_client, HTTP_USER_ID=str(other_user.pk))
    assert record["user_id"] == other_user.pk
    assert_error(upload(admin_client, HTTP_USER_ID="987654"), 404, "not_found")


def test_another_users_file_is_404_on_every_route(user, other_user, admin_client, s3):
    record = uploaded(client_for(other_user))
    intruder = client_for(user)
    path = f"/user/data/{record['data_id']}"
    hidden = [
        intruder.get(path),
        intruder.delete(path),
        intruder.put("/user/data", {"data_id": record["data_id"], "filename": "x"}, format="json"),
    ]
    missing = client_for(user).get("/user/data/987654")
    for response in [*hidden, missing]:
        assert_error(response, 404, "not_found")
    found = intruder.post("/user/data/search", {"data_id": record["data_id"]}, format="json")
    assert found.json()["data"] == []
    assert UserFile.objects.get(pk=record["data_id"]).filename == "notes.txt"
    assert admin_client.get(path).status_code == 200
    assert (
        admin_client.put(
            "/user/data", {"data_id": record["data_id"], "comments": "seen"}, format="json"
        ).status_code
        == 200
    )
    assert admin_client.delete(path).status_code == 204
    assert objects(s3) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/user/data"),
        ("put", "/user/data"),
        ("post", "/user/data/search"),
        ("get", "/user/data/1"),
        ("delete", "/user/data/1"),
    ],
)
def test_every_route_needs_a_token(api, method, path):
    assert_error(getattr(api, method)(path), 401, "not_authenticated")


def test_update_changes_only_the_given_metadata(user_client, s3):
    record = uploaded(user_client, HTTP_DATA_TYPE="notes")
    response = user_client.put(
        "/user/data",
        {"data_id": record["data_id"], "filename": "renamed.txt", "comments": "c"},
        format="json",
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["filename"], data["comments"], data["data_type"]) == ("renamed.txt", "c", "notes")
    assert data["sha256"] == record["sha256"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "data_id"),
        ({"data_id": 1, "filename": ""}, "filename"),
        ({"data_id": 1, "comments": "x" * 1025}, "comments"),
    ],
)
def test_invalid_update_is_400(user_client, body, field):
    assert (
        field
        in assert_error(
            user_client.put("/user/data", body, format="json"), 400, "validation_error"
        )["errors"]
    )


def test_search_filters_are_anded_and_paginated(user, other_user, admin_client, s3):
    client = client_for(user)
    small = uploaded(client, body=b"a" * 10, HTTP_FILENAME="Report-2026.CSV", HTTP_DATA_TYPE="csv")
    uploaded(client, body=b"b" * 500, HTTP_FILENAME="report-big.csv", HTTP_DATA_TYPE="csv")
    uploaded(client, body=b"c" * 10, HTTP_FILENAME="photo.png", HTTP_DATA_TYPE="image")
    uploaded(client_for(other_user), body=b"d" * 10, HTTP_FILENAME="report-bob.csv")

    def names(**body):
        response = client.post("/user/data/search", body, format="json")
        assert response.status_code == 200, response.content
        return [item["filename"] for item in response.json()["data"]]

    assert names(filename="REPORT") == ["report-big.csv", "Report-2026.CSV"]
    assert names(filename="report", below_bytes=100) == ["Report-2026.CSV"]
    assert names(data_type="csv", above_bytes=10) == ["report-big.csv"]
    assert names(data_id=small["data_id"]) == ["Report-2026.CSV"]
    first = client.post("/user/data/search", {"limit": 2}, format="json").json()
    second = client.post(
        "/user/data/search", {"limit": 2, "cursor": first["next_cursor"]}, format="json"
    ).json()
    assert [d["filename"] for d in first["data"] + second["data"]] == [
        "photo.png",
        "report-big.csv",
        "Report-2026.CSV",
    ]
    assert second["next_cursor"] is None
    assert_error(
        client.post("/user/data/search", {"user_id": other_user.pk}, format="json"),
        403,
        "permission_denied",
    )
    bobs = admin_client.post("/user/data/search", {"user_id": other_user.pk}, format="json")
    assert [d["filename"] for d in bobs.json()["data"]] == ["report-bob.csv"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"limit": 101}, "limit"), ({"above_bytes": -1}, "above_bytes"), ({"cursor": "!!"}, "cursor")],
)
def test_invalid_search_is_400(user_client, body, field):
    response = user_client.post("/user/data/search", body, format="json")
    assert field in assert_error(response, 400, "validation_error")["errors"]


def test_delete_removes_the_row_and_the_object(user_client, s3):
    record = uploaded(user_client)
    assert user_client.delete(f"/user/data/{record['data_id']}").status_code == 204
    assert not UserFile.objects.exists()
    assert objects(s3) == []


def test_presigned_download_redirects_to_a_working_url(user_client, s3, settings):
    settings.S3_PRESIGNED_DOWNLOADS = True
    record = uploaded(user_client, HTTP_FILENAME="report.txt")
    response = user_client.get(f"/user/data/{record['data_id']}")
    assert response.status_code == 302
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.content == BODY
    assert "report.txt" in fetched.headers["Content-Disposition"]


def test_missing_object_on_download_is_503_not_a_broken_stream(user_client, s3):
    record = uploaded(user_client)
    s3.delete_object(Bucket=S3_BUCKET, Key=UserFile.objects.get().key)
    assert_error(user_client.get(f"/user/data/{record['data_id']}"), 503, "storage_unavailable")


def test_local_directory_storage_round_trip(user_client, user_data_dir):
    record = uploaded(user_client)
    stored = UserFile.objects.get()
    # The key within the data directory: nothing of the server's paths.
    assert record["sloc"] == f"local:{stored.key}"
    assert str(user_data_dir) not in record["sloc"]
    assert (user_data_dir / stored.key).read_bytes() == BODY
    response = user_client.get(f"/user/data/{record['data_id']}")
    assert b"".join(response.streaming_content) == BODY
    assert user_client.delete(f"/user/data/{record['data_id']}").status_code == 204
    assert [p for p in user_data_dir.rglob("*") if p.is_file()] == []


def test_plain_library_functions_round_trip(s3, tmp_path):
    stored = storage.upload_bytes("lib/one", b"in memory", content_type="text/plain")
    assert stored.sha256 == hashlib.sha256(b"in memory").hexdigest()
    assert storage.download_bytes("lib/one") == b"in memory"
    source = tmp_path / "source.bin"
    source.write_bytes(BODY)
    assert storage.upload_file(
        "lib/two", source, content_type="application/octet-stream"
    ).size == len(BODY)
    storage.download_file("lib/two", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == BODY


def test_operator_command_uploads_and_downloads(user, s3, tmp_path):
    source = tmp_path / "report.csv"
    source.write_bytes(BODY)
    call_command("user_files", "upload", "--user-id", str(user.pk), str(source))
    record = UserFile.objects.get()
    assert (record.filename, record.content_type, record.user_id) == (
        "report.csv",
        "text/csv",
        user.pk,
    )
    call_command("user_files", "download", "--data-id", str(record.pk), str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_bytes() == BODY


def test_operator_command_reports_refusals_and_missing_ids(user, s3, tmp_path, settings):
    source = tmp_path / "big.bin"
    source.write_bytes(BODY)
    settings.USER_DATA_MAX_BYTES = len(BODY) - 1
    with pytest.raises(CommandError, match="too large"):
        call_command("user_files", "upload", "--user-id", str(user.pk), str(source))
    with pytest.raises(CommandError, match="No user 987654"):
        call_command("user_files", "upload", "--user-id", "987654", str(source))
    with pytest.raises(CommandError, match="No file 987654"):
        call_command("user_files", "download", "--data-id", "987654", str(tmp_path / "x"))
    assert not UserFile.objects.exists()
    assert objects(s3) == []


def test_reconcile_finds_and_removes_orphans_both_ways(user_client, s3, settings):
    kept = uploaded(user_client)
    lost = uploaded(user_client)
    UserFile.objects.filter(pk=lost["data_id"]).update(created_at="2000-01-01T00:00:00Z")
    UserFile.objects.filter(pk=kept["data_id"]).update(created_at="2000-01-01T00:00:00Z")
    s3.delete_object(Bucket=S3_BUCKET, Key=UserFile.objects.get(pk=lost["data_id"]).key)
    orphan = f"{settings.S3_DATA_PREFIX}/1/2000/01/01/orphan"
    s3.put_object(Bucket=S3_BUCKET, Key=orphan, Body=b"x")
    s3.create_multipart_upload(
        Bucket=S3_BUCKET, Key=f"{settings.S3_DATA_PREFIX}/1/2000/01/01/partial"
    )
    call_command("reconcile_storage", "--grace-minutes", "0")
    assert orphan in objects(s3) and UserFile.objects.count() == 2
    call_command("reconcile_storage", "--grace-minutes", "0", "--delete")
    assert objects(s3) == [UserFile.objects.get().key]
    assert UserFile.objects.get().pk == kept["data_id"]
    assert multipart_uploads(s3) == []


def test_reconcile_leaves_rows_under_an_earlier_prefix_alone(user_client, s3, settings):
    """After S3_DATA_PREFIX changes, the rows stored under the old one still have objects."""
    earlier = uploaded(user_client)
    UserFile.objects.filter(pk=earlier["data_id"]).update(created_at="2000-01-01T00:00:00Z")
    settings.S3_DATA_PREFIX = "a/new/prefix"
    call_command("reconcile_storage", "--grace-minutes", "0", "--delete")
    assert UserFile.objects.filter(pk=earlier["data_id"]).exists()
    assert objects(s3) == [UserFile.objects.get().key]


def test_reconcile_says_what_it_found_of_how_many(user_client, s3, settings):
    uploaded(user_client)
    orphan = f"{settings.S3_DATA_PREFIX}/1/2000/01/01/orphan"
    s3.put_object(Bucket=S3_BUCKET, Key=orphan, Body=b"x")
    out = io.StringIO()
    call_command("reconcile_storage", "--grace-minutes", "0", stdout=out)
    assert out.getvalue().splitlines() == [
        f"Found object without a row: {orphan}",
        "Found 1 objects without a row, 0 rows without an object, 0 incomplete uploads "
        "(of 2 objects and 1 rows; grace 0 min)",
    ]


def test_reconcile_leaves_rows_outside_the_prefix_alone(user, s3):
    """A file imported from the Rust service: its object is where that service put it."""
    imported = file_row(
        user,
        key="rust/uploads/1/2022/01/01/u.old.csv",
        sloc=f"s3://{S3_BUCKET}/rust/uploads/1/2022/01/01/u.old.csv",
        filename="old.csv",
        sha256="",
        content_type="application/octet-stream",
    )
    UserFile.objects.filter(pk=imported.pk).update(created_at="2000-01-01T00:00:00Z")
    out = io.StringIO()
    call_command("reconcile_storage", "--grace-minutes", "0", "--delete", stdout=out)
    assert UserFile.objects.filter(pk=imported.pk).exists()
    assert out.getvalue().splitlines()[-1] == (
        "Not checked: 1 rows whose object is outside S3_DATA_PREFIX (imported from the Rust "
        "service; import_seed --hash-files finds those whose object is gone)"
    )


def test_reconcile_with_storage_unreachable_is_one_line_and_exit_3(s3, settings):
    settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(CommandError) as failed:
        call_command("reconcile_storage")
    assert str(failed.value).startswith(
        f"Storage failed (s3://{S3_BUCKET}/{settings.S3_DATA_PREFIX}): Could not connect to "
        "the endpoint URL"
    )
    assert failed.value.returncode == EXIT_UNAVAILABLE


def test_reconcile_refuses_a_negative_grace(s3):
    with pytest.raises(CommandError, match="--grace-minutes: must be a whole number of at least 0"):
        call_command("reconcile_storage", "--grace-minutes", "-5", "--delete")


def test_operator_upload_checks_the_file_and_metadata_as_the_api(user, s3, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.touch()
    source = tmp_path / "report.csv"
    source.write_bytes(BODY)
    refusals = [
        ([str(tmp_path / "missing.csv")], "missing.csv is not a file"),
        ([str(tmp_path)], "is not a file"),
        ([str(empty)], "empty.txt is empty"),
        ([str(source), "--filename", "f" * 256], "filename: Ensure this field has no more"),
        ([str(source), "--data-type", "t" * 129], "data_type: Ensure this field has no more"),
    ]
    for args, message in refusals:
        with pytest.raises(CommandError, match=message) as refused:
            call_command("user_files", "upload", "--user-id", str(user.pk), *args)
        assert refused.value.returncode == EXIT_BAD_INPUT
    assert not UserFile.objects.exists() and objects(s3) == []
    out = io.StringIO()
    call_command("user_files", "upload", "--user-id", str(user.pk), str(source), stdout=out)
    record = UserFile.objects.get()
    assert out.getvalue() == (
        f"Stored {source} ({len(BODY)} bytes, sha256 {record.sha256}) as data_id {record.pk} "
        f"of user {user.pk}\n"
    )


def test_operator_download_keeps_an_existing_file_unless_forced(user, s3, tmp_path):
    source = tmp_path / "report.csv"
    source.write_bytes(BODY)
    call_command("user_files", "upload", "--user-id", str(user.pk), str(source))
    data_id = str(UserFile.objects.get().pk)
    target = tmp_path / "mine.csv"
    target.write_bytes(b"keep me")
    with pytest.raises(CommandError, match=r"mine\.csv exists; pass --force to replace it"):
        call_command("user_files", "download", "--data-id", data_id, str(target))
    assert target.read_bytes() == b"keep me"
    out = io.StringIO()
    call_command("user_files", "download", "--data-id", data_id, str(target), "--force", stdout=out)
    assert target.read_bytes() == BODY
    assert out.getvalue() == f"Wrote {len(BODY)} bytes of data_id {data_id} to {target}\n"


def test_operator_download_with_storage_down_leaves_no_partial_file(user, s3, tmp_path, settings):
    source = tmp_path / "report.csv"
    source.write_bytes(BODY)
    call_command("user_files", "upload", "--user-id", str(user.pk), str(source))
    settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    target = tmp_path / "out" / "copy.csv"
    target.parent.mkdir()
    data_id = str(UserFile.objects.get().pk)
    with pytest.raises(CommandError, match="Storage failed: Could not connect") as failed:
        call_command("user_files", "download", "--data-id", data_id, str(target))
    assert failed.value.returncode == EXIT_UNAVAILABLE
    assert list(target.parent.iterdir()) == []


def test_old_local_locations_lose_the_server_path(user, user_data_dir):
    migration = importlib.import_module("userdata.migrations.0002_local_sloc_without_host_path")
    local = file_row(
        user,
        key="restapi/userdata/1/2026-12-01/aa",
        sloc=f"file://{user_data_dir}/restapi/userdata/1/2026-12-01/aa",
        filename="a.txt",
    )
    in_s3 = file_row(
        user,
        key="restapi/userdata/1/2026-12-01/bb",
        sloc="s3://bucket/restapi/userdata/1/2026-12-01/bb",
        filename="b.txt",
    )
    # The models as that migration saw them (the model was UserData then).
    state = MigrationLoader(connection).project_state(
        ("userdata", "0002_local_sloc_without_host_path")
    )
    migration.local_sloc_from_key(state.apps, None)
    local.refresh_from_db()
    in_s3.refresh_from_db()
    assert local.sloc == "local:restapi/userdata/1/2026-12-01/aa"
    assert in_s3.sloc == "s3://bucket/restapi/userdata/1/2026-12-01/bb"
