"""Exports and erasures through the real gunicorn over TLS: the job runner in the
workers makes the archive from the moto S3 server and carries out the erasure."""

import hashlib
import json
import time
import zipfile
from pathlib import Path

import pytest

from tests.e2e.test_files import MIB, GeneratedBody, memory_kib
from tests.fixtures.storage import S3_BUCKET, s3_client
from tests.helpers import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def privacy_server(new_server):
    with new_server(USER_ERASE_GRACE_SECONDS="0", PRIVACY_JOBS_IDLE_SECONDS="1") as server:
        yield server


def upload(http, server, auth, body, filename):
    response = http.post(
        f"{server.url}/user/data",
        data=body,
        headers={**auth, "filename": filename, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def ready(http, server, auth, export_id, timeout=120):
    """Polls the export until it is ready: the streaming response of the archive."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(f"{server.url}/user/export/{export_id}", headers=auth, stream=True)
        if response.status_code != 202:
            assert response.status_code == 200, response.text
            return response
        assert int(response.headers["Retry-After"]) >= 1
        assert time.monotonic() < deadline, response.json()
        time.sleep(0.2)


def test_a_200_mib_export_streams_with_flat_memory_and_byte_identical_files(
    privacy_server, tmp_path
):
    server = privacy_server
    auth = {"Authorization": f"Bearer {server.register('exporter@example.com')}"}
    http = server.session()
    digests = {}
    for number in range(4):
        body = GeneratedBody(50 * MIB)
        record = upload(http, server, auth, body, f"part-{number}.bin")
        digests[record["data_id"]] = body.digest.hexdigest()
    # The workers' size now, with their peaks reset to it: the uploads' are not the export's.
    before = {pid: memory_kib(pid, "VmRSS") for pid in server.worker_pids()}
    for pid in before:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    accepted = http.post(f"{server.url}/user/export", headers=auth)
    assert accepted.status_code == 202, accepted.text
    response = ready(http, server, auth, accepted.json()["export_id"])
    archive_path = tmp_path / "export.zip"
    with archive_path.open("wb") as out:
        for chunk in response.iter_content(MIB):
            out.write(chunk)
    growth_mib = max(memory_kib(pid, "VmHWM") - rss for pid, rss in before.items()) / 1024
    print(
        f"\nworker peak RSS growth during a 200 MiB export and its download: {growth_mib:.1f} MiB"
    )
    assert growth_mib < 64
    with zipfile.ZipFile(archive_path) as archive:
        files = {record["data_id"]: record for record in json.loads(archive.read("files.json"))}
        assert set(files) == set(digests)
        for data_id, expected in digests.items():
            digest = hashlib.sha256()
            with archive.open(files[data_id]["path"]) as entry:
                while chunk := entry.read(MIB):
                    digest.update(chunk)
            assert digest.hexdigest() == expected == files[data_id]["sha256"]


def test_an_erasure_is_carried_out_by_the_workers_runner(privacy_server):
    server = privacy_server
    token = server.register("leaving@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    http = server.session()
    for number in range(3):
        upload(http, server, auth, b"a file to forget\n" * number + b"!", f"f{number}.txt")
    user = User.objects.get(email="leaving@example.com")
    s3 = s3_client(server.env["S3_ENDPOINT_URL"])
    prefix = f"user/data/file/{user.pk}/"
    assert s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix)["KeyCount"] == 3
    response = http.post(
        f"{server.url}/user/erase", json={"current_password": PASSWORD}, headers=auth
    )
    assert response.status_code == 202, response.text
    # The session is revoked at once; the deletion follows (no grace on this server).
    assert http.get(f"{server.url}/user/{user.pk}", headers=auth).status_code == 401
    deadline = time.monotonic() + 30
    while User.objects.filter(pk=user.pk).exists():
        assert time.monotonic() < deadline, "the erasure did not happen"
        time.sleep(0.2)
    assert s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix)["KeyCount"] == 0
    again = http.post(
        f"{server.url}/user", json={"email": "leaving@example.com", "password": PASSWORD}
    )
    assert again.status_code == 201, again.text
