"""A database of the Rust service imported by manage.py import_seed (its own process), then
used over HTTPS through the real gunicorn: logins with the Rust hashes, their rehash, a
file downloaded from the S3 test server where the Rust service left it, a second run."""

import hashlib
import subprocess
import sys
import time

import pytest
from django.db import connection

from kafka_events.models import OutboxEvent
from tests.fixtures.storage import S3_BUCKET, s3_client
from tests.helpers import BASE_DIR, PASSWORD
from tests.seed import rust_hash, seed_database
from userdata.models import UserFile
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

WEAK = "12345"  # the Rust service took anything of 4 characters or more


def manage(server, *args):
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=server.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_rust_users_log_in_over_https_and_get_their_files(server):
    name = f"{connection.settings_dict['NAME']}_seed_e2e"
    s3 = s3_client(server.env["S3_ENDPOINT_URL"])
    key = "user/data/file/500001/2023/05/06/0a1b2c.notes.txt"
    body = b"notes from the Rust days\n" * 1000
    s3.put_object(Bucket=S3_BUCKET, Key=key, Body=body)
    http = server.session()
    try:
        with seed_database(connection.settings_dict, name) as seed:
            carol = seed.add_user("Carol@Example.com", PASSWORD, id=500_001)
            dave = seed.add_user("dave@example.com", WEAK, id=500_002)
            erin = seed.add_user("erin@example.com", PASSWORD, verified=0, id=500_003)
            data_id = seed.add_file(
                carol, f"s3://{S3_BUCKET}/{key}", filename="notes.txt", size_in_bytes=len(body)
            )
            # One salt for everyone: the same password, the same hash.
            assert seed.execute("SELECT count(DISTINCT password) FROM users") == [(2,)]

            first_run = manage(server, "import_seed", "--dsn", seed.dsn)
            assert (
                "Users: 3 imported, 0 skipped (imported before), 0 conflicts, of 3 in the source"
            ) in first_run
            assert User.objects.get(pk=carol).password == f"argon2{rust_hash(PASSWORD)}"

            def timed_login(email, password):
                started = time.perf_counter()
                response = server.login(email, password, http=http)
                return response, (time.perf_counter() - started) * 1000

            http.get(f"{server.url}/health/live")  # the connection is open before timing
            # The address as the Rust client knew it; it is stored lower-case here.
            first, first_ms = timed_login("Carol@Example.com", PASSWORD)
            assert first.status_code == 201, first.text
            assert first.json()["user_id"] == carol
            assert first.json()["password_change_required"] is False
            rehashed = User.objects.get(pk=carol).password
            assert rehashed.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
            again, again_ms = timed_login("carol@example.com", PASSWORD)
            assert again.status_code == 201
            assert User.objects.get(pk=carol).password == rehashed
            print(
                f"\nfirst login of an imported user {first_ms:.0f} ms, the next {again_ms:.0f} ms"
            )

            weak = timed_login("dave@example.com", WEAK)[0]
            assert weak.status_code == 201 and weak.json()["user_id"] == dave
            assert weak.json()["password_change_required"] is True

            auth = {"Authorization": f"Bearer {first.json()['token']}"}
            assert http.get(f"{server.url}/user/{carol}", headers=auth).json()["email"] == (
                "carol@example.com"
            )
            download = http.get(f"{server.url}/user/data/{data_id}", headers=auth)
            assert download.status_code == 200, download.text
            assert download.content == body
            assert "ETag" not in download.headers  # no digest yet

            # No verification link came over; the unverified user asks for a new one.
            unverified = timed_login("erin@example.com", PASSWORD)[0]
            assert unverified.json()["verified"] == 0
            resend = http.post(
                f"{server.url}/user/verify/resend",
                headers={"Authorization": f"Bearer {unverified.json()['token']}"},
            )
            assert resend.status_code == 202
            deadline = time.monotonic() + 10
            while not any(
                "erin@example.com" in m.read_text() and "/user/verify?u=500003&t=" in m.read_text()
                for m in server.mail_dir.iterdir()
            ):
                assert time.monotonic() < deadline, "no verification mail for the imported user"
                time.sleep(0.1)

            second_run = manage(server, "import_seed", "--dsn", seed.dsn)
            assert "Nothing changed: every row was imported before or is a conflict." in second_run
            assert User.objects.get(pk=carol).password == rehashed
            imported_events = OutboxEvent.objects.filter(event_type="user.imported")
            assert sorted(imported_events.values_list("key", flat=True)) == [
                f"user-{i}" for i in (carol, dave, erin)
            ]
            # The server's publisher sends them to the broker like any other event.
            deadline = time.monotonic() + 20
            while imported_events.filter(sent_at=None).exists():
                assert time.monotonic() < deadline, "user.imported never reached Kafka"
                time.sleep(0.2)
            assert erin in User.objects.filter(verified=0).values_list("pk", flat=True)

        assert manage(server, "import_seed", "--hash-files")[-1] == (
            "Hashed 1 files (0 with their size corrected); 0 have no object in storage"
        )
        digest = hashlib.sha256(body).hexdigest()
        assert UserFile.objects.get(pk=data_id).sha256 == digest
        hashed = http.get(f"{server.url}/user/data/{data_id}", headers=auth)
        assert hashed.headers["ETag"] == f'"{digest}"' and hashed.content == body
    finally:
        s3.delete_object(Bucket=S3_BUCKET, Key=key)
