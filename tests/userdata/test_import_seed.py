"""manage.py import_seed against a real database in the Rust service's schema (tests/seed.py)."""

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from kafka_events.models import OutboxEvent
from restapi.commands import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_UNAVAILABLE
from tests.fixtures.storage import S3_BUCKET
from tests.helpers import PASSWORD, free_port
from tests.seed import SeedDatabase, rust_hash, seed_database
from userdata import seed_import
from userdata.models import UserFile
from users.models import OneTimeToken, Role, User

pytestmark = pytest.mark.django_db

CREATED = datetime(2022, 3, 4, 5, 6, 7, tzinfo=UTC)
UPDATED = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def seed() -> Iterator[SeedDatabase]:
    with seed_database(connection.settings_dict, f"{connection.settings_dict['NAME']}_seed") as db:
        yield db


@pytest.fixture
def events(settings):
    """Events on, so that they reach the outbox (nothing publishes in these tests)."""
    settings.KAFKA_ENABLED = True
    settings.KAFKA_PUBLISH_EVENTS = True


def sloc(key: str) -> str:
    return f"s3://{S3_BUCKET}/{key}"


def run(seed: SeedDatabase, *args: str) -> list[str]:
    out = io.StringIO()
    call_command("import_seed", "--dsn", seed.dsn, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def test_users_and_files_keep_their_ids_and_a_second_run_changes_nothing(seed, s3, events):
    alice = seed.add_user(
        "Alice@Example.COM", PASSWORD, created_at=CREATED, updated_at=UPDATED, id=100_007
    )
    root = seed.add_user("admin@email.com", PASSWORD, role="admin", id=100_009)
    gone = seed.add_user("gone@example.com", PASSWORD, state=1, verified=0, created_at=CREATED)
    report = seed.add_file(
        alice, sloc("user/data/file/7/2023/01/02/u1.report.csv"), size_in_bytes=12, id=100_040
    )

    first = run(seed, "--batch-size", "2")
    assert (
        "Users: 3 imported, 0 skipped (imported before), 0 conflicts, of 3 in the source" in first
    )
    assert (
        "Files: 1 imported, 0 skipped (imported before), 0 conflicts, of 1 in the source" in first
    )
    assert (
        "Sequences: users ids continue after 100,009; users_data ids continue after 100,040"
        in first
    )
    assert any(line.startswith("Admins imported: 1 (ids 100009)") for line in first)

    imported = User.objects.get(pk=alice)
    assert imported.email == "alice@example.com"
    assert imported.password == f"argon2{rust_hash(PASSWORD)}"
    assert (imported.created_at, imported.updated_at) == (CREATED, UPDATED)
    assert imported.imported_at is not None and imported.verified == 1
    assert User.objects.get(pk=root).role == Role.ADMIN
    deactivated = User.objects.get(pk=gone)
    assert (deactivated.state, deactivated.verified) == (1, 0)
    assert deactivated.updated_at == CREATED  # null in the source
    record = UserFile.objects.get(pk=report)
    assert (record.user_id, record.key, record.sloc) == (
        alice,
        "user/data/file/7/2023/01/02/u1.report.csv",
        sloc("user/data/file/7/2023/01/02/u1.report.csv"),
    )
    assert (record.sha256, record.size_in_bytes, record.filename) == ("", 12, "report.csv")
    assert sorted(
        OutboxEvent.objects.filter(event_type="user.imported").values_list("key", flat=True)
    ) == sorted(f"user-{i}" for i in (alice, root, gone))
    event = OutboxEvent.objects.get(key=f"user-{alice}")
    body = json.loads(event.value)
    assert (body["type"], body["user_id"], body["id"]) == (
        "user.imported",
        alice,
        str(event.event_id),
    )
    assert body["data"]["email"] == "alice@example.com" and "password" not in body["data"]
    assert ["event_type", "user.imported"] in event.headers and event.sent_at is None

    # Ids made here from now on come after every imported one.
    assert User.objects.create(email="new@example.com", password="x").pk > 100_009
    assert (
        UserFile.objects.create(
            user_id=alice,
            filename="n",
            size_in_bytes=0,
            key="k",
            sloc="s",
            sha256="",
            content_type="t",
        ).pk
        > 100_040
    )

    second = run(seed)
    assert (
        "Users: 0 imported, 3 skipped (imported before), 0 conflicts, of 3 in the source" in second
    )
    assert (
        "Files: 0 imported, 1 skipped (imported before), 0 conflicts, of 1 in the source" in second
    )
    assert "Nothing changed: every row was imported before or is a conflict." in second
    assert not any(line.startswith("Sequences") for line in second)
    assert OutboxEvent.objects.filter(event_type="user.imported").count() == 3


def test_conflicts_are_reported_and_change_nothing_here(seed, s3, make_user):
    local = make_user(email="taken@example.com")
    before = (local.email, local.password)
    # Told apart by the Rust service, one address here: neither is imported.
    upper = seed.add_user("Bob@Example.com", PASSWORD)
    lower = seed.add_user("bob@example.com", PASSWORD)
    taken = seed.add_user("TAKEN@example.com", PASSWORD)
    same_id = seed.add_user("someone@example.com", PASSWORD, id=local.pk)
    invalid = seed.add_user("not an address", PASSWORD)
    role = seed.add_user("role@example.com", PASSWORD, role="superuser")
    plain = seed.add_user("plain@example.com", PASSWORD)
    seed.execute("UPDATE users SET password = 'hunter22' WHERE id = %s", [plain])
    fine = seed.add_user("fine@example.com", PASSWORD)
    files = {
        "elsewhere": seed.add_file(fine, "s3://another-bucket/x"),
        "orphan": seed.add_file(None, sloc("orphan")),
        "of_conflict": seed.add_file(upper, sloc("bob")),
        "long_name": seed.add_file(fine, sloc("long"), filename="x" * 300),
        "first": seed.add_file(fine, sloc("shared")),
        "same_object": seed.add_file(fine, sloc("shared")),
    }

    lines = run(seed)
    conflicts = {line for line in lines if line.startswith("conflict:")}
    assert conflicts == {
        f"conflict: user {upper}: its address is 'bob@example.com' here, as that of Rust user "
        f"{lower} ('bob@example.com')",
        f"conflict: user {lower}: its address is 'bob@example.com' here, as that of Rust user "
        f"{upper} ('Bob@Example.com')",
        f"conflict: user {taken}: 'taken@example.com' is the address of user {local.pk} of "
        "this service",
        f"conflict: user {same_id}: id {local.pk} is a user of this service already",
        f"conflict: user {invalid}: 'not an address' is not a valid email address",
        f"conflict: user {role}: role 'superuser' is neither 'user' nor 'admin'",
        f"conflict: user {plain}: its password is not an argon2 hash",
        f"conflict: file {files['elsewhere']}: 's3://another-bucket/x' is not an object in "
        "this service's storage",
        f"conflict: file {files['orphan']}: it has no owner",
        f"conflict: file {files['of_conflict']}: its owner, Rust user {upper}, was not imported",
        f"conflict: file {files['long_name']}: its filename is longer than 255 characters",
        f"conflict: file {files['same_object']}: its object is that of file {files['first']} here",
    }
    assert (
        "Users: 1 imported, 0 skipped (imported before), 7 conflicts, of 8 in the source" in lines
    )
    assert (
        "Files: 1 imported, 0 skipped (imported before), 5 conflicts, of 6 in the source" in lines
    )
    local.refresh_from_db()
    assert (local.email, local.password, local.imported_at) == (*before, None)
    assert set(User.objects.values_list("pk", flat=True)) == {local.pk, fine}
    assert set(UserFile.objects.values_list("pk", flat=True)) == {files["first"]}

    # Fixed at the source, a conflict comes over on the next run, and only it.
    seed.execute("UPDATE users SET email = 'robert@example.com' WHERE id = %s", [upper])
    again = run(seed)
    assert (
        "Users: 2 imported, 1 skipped (imported before), 5 conflicts, of 8 in the source" in again
    )
    assert User.objects.get(pk=upper).email == "robert@example.com"
    assert User.objects.get(pk=lower).email == "bob@example.com"
    assert UserFile.objects.filter(pk=files["of_conflict"], user_id=upper).exists()


def test_tokens_stay_behind_and_the_summary_says_so(seed):
    user = seed.add_user("new@example.com", PASSWORD, verified=0)
    seed.execute(
        "INSERT INTO users_verified (user_id, token, email, exp_date) "
        "VALUES (%s, 'clear-text-token', 'new@example.com', now())",
        [user],
    )
    seed.execute("INSERT INTO users_otp (user_id, token) VALUES (%s, 'otp-in-clear')", [user])
    lines = run(seed)
    assert (
        "Not imported: 1 rows of users_verified, 1 rows of users_otp, 0 rows of users_tokens "
        "(their tokens were stored in clear; unverified users ask for a new link, everyone "
        "logs in again)"
    ) in lines
    assert not OneTimeToken.objects.exists()
    assert User.objects.get(pk=user).verified == 0


def test_hash_files_streams_each_object_and_corrects_a_wrong_size(seed, s3):
    owner = seed.add_user("files@example.com", PASSWORD)
    s3.put_object(Bucket=S3_BUCKET, Key="rust/a.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=S3_BUCKET, Key="rust/b.bin", Body=b"\x00" * 100)
    right = seed.add_file(owner, sloc("rust/a.csv"), size_in_bytes=8)
    wrong = seed.add_file(owner, sloc("rust/b.bin"), size_in_bytes=3)
    missing = seed.add_file(owner, sloc("rust/never-uploaded"), size_in_bytes=5)
    run(seed)

    lines = run(seed, "--hash-files")
    assert f"file {wrong}: its object has 100 bytes, not 3: corrected" in lines
    assert f"file {missing}: its object 'rust/never-uploaded' is not in storage" in lines
    assert "Hashed 2 files (1 with their size corrected); 1 have no object in storage" in lines
    assert UserFile.objects.get(pk=right).sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert UserFile.objects.get(pk=wrong).size_in_bytes == 100
    assert UserFile.objects.get(pk=missing).sha256 == ""
    # Hashed files are not read again.
    out = io.StringIO()
    call_command("import_seed", "--hash-files", stdout=out, stderr=io.StringIO())
    assert "Hashed 0 files (0 with their size corrected); 1 have no object in storage" in (
        out.getvalue()
    )


def test_without_s3_no_file_can_come_over(seed):
    owner = seed.add_user("local@example.com", PASSWORD)
    data_id = seed.add_file(owner, sloc("rust/a.csv"))
    lines = run(seed)
    assert (
        f"conflict: file {data_id}: {sloc('rust/a.csv')!r} is not an object in this "
        "service's storage"
    ) in lines


@pytest.mark.parametrize(
    ("dsn", "code", "message"),
    [
        ("postgresql://127.0.0.1:{port}/x", EXIT_UNAVAILABLE, "The Rust service's database is "),
        ("not a dsn", EXIT_BAD_INPUT, "--dsn: "),
        ("{own}", EXIT_FAILED, "--dsn: that is a database of this service"),
        ("{other}", EXIT_FAILED, "--dsn: not the Rust service's schema: "),
    ],
    ids=["unreachable", "malformed", "this-service", "other-schema"],
)
def test_a_source_that_is_not_one_is_one_line(seed, dsn, code, message):
    own = seed.dsn.rsplit("/", 1)[0] + f"/{connection.settings_dict['NAME']}"
    other = seed.dsn.rsplit("/", 1)[0] + "/postgres"
    dsn = dsn.format(port=free_port(), own=own, other=other)
    with pytest.raises(CommandError) as raised:
        call_command("import_seed", "--dsn", dsn, stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == code
    assert str(raised.value).startswith(message), raised.value


def test_nothing_to_do_is_refused():
    with pytest.raises(CommandError) as raised:
        call_command("import_seed", stdout=io.StringIO())
    assert raised.value.returncode == EXIT_BAD_INPUT


@pytest.mark.django_db(transaction=True)
def test_a_registration_racing_a_batch_makes_it_try_again_and_report_it(seed, monkeypatch):
    racing = seed.add_user("race@example.com", PASSWORD)
    calm = seed.add_user("calm@example.com", PASSWORD)
    checked = seed_import._user_problem
    registered = []

    def register_meanwhile(row):
        """After the batch read who is here, another connection registers the address."""
        if not registered:

            def register():
                registered.append(User.objects.create(email="race@example.com", password="x"))
                connections.close_all()

            thread = threading.Thread(target=register)
            thread.start()
            thread.join()
        return checked(row)

    monkeypatch.setattr(seed_import, "_user_problem", register_meanwhile)
    lines = run(seed)
    assert (
        f"conflict: user {racing}: 'race@example.com' is the address of user "
        f"{registered[0].pk} of this service"
    ) in lines
    assert (
        "Users: 1 imported, 0 skipped (imported before), 1 conflicts, of 2 in the source" in lines
    )
    assert User.objects.get(pk=calm).imported_at is not None
