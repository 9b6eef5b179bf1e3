"""Privacy: an export of a user holding 4 files (256 MiB in all) from POST /user/export to
the archive downloaded, beside downloading the same files one by one and beside copying
them within moto straight with boto3; the workers' peak RSS growth meanwhile; and `manage.py
erase_user --now` of a user holding 1,000 small files, beside one DeleteObjects call of
1,000 objects, checked to leave no row and no object of the user behind."""

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from bench import events
from bench.client import Account, Client
from bench.files import MIB, SIZE, GeneratedBody, peak_growth, reset_peaks
from bench.report import Row, ours_at_most, ratio_at_least
from bench.run import Bench
from bench.services import BUCKET, BenchError, s3_client

EXPORT_FILES = 4
EXPORT_FILE_BYTES = SIZE // EXPORT_FILES
# How often the bench asks for the export's state. The service's Retry-After is 2 s; a
# client that obeys it waits up to that much longer than measured here.
POLL_SECONDS = 0.25
# An export that is not ready by then (or an erasure not done) breaks the scenario off.
EXPORT_TIMEOUT_SECONDS = 300
ERASE_FILES = 1000
ERASE_FILE_BYTES = 1024
UPLOADERS = 4
# The service's own transfer settings (restapi/settings/storage.py): 8 MiB parts, two at a
# time, as many in memory.
SERVICE_TRANSFER = TransferConfig(
    multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=2
)
SERVICE_TRANSFER.max_in_memory_upload_chunks = 2


def upload(client: Client, token: str, size: int, name: str) -> int:
    """One file of `size` bytes (random, sent in 1 MiB writes); returns its data_id."""
    conn = client.connection()
    conn.putrequest("POST", "/user/data")
    for header, value in {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/octet-stream",
        "Content-Length": str(size),
        "filename": name,
    }.items():
        conn.putheader(header, value)
    conn.endheaders()
    body = GeneratedBody(size)
    while data := body.read(MIB):
        conn.send(data)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 201:
        raise BenchError(f"upload of {name}: {response.status} {answer[:300]!r}")
    if response.getheader("Connection", "").lower() == "close":
        client.close()
    return int(json.loads(answer)["data_id"])


def drain(client: Client, path: str, token: str) -> tuple[int, int, Any]:
    """GET `path`, its body read in 1 MiB reads and dropped: (status, bytes, JSON or None)."""
    conn = client.connection()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raw = response.read()
        return response.status, len(raw), json.loads(raw) if raw else None
    buffer = memoryview(bytearray(MIB))
    received = 0
    while count := response.readinto(buffer):
        received += count
    length = int(response.getheader("Content-Length") or -1)
    if received != length:
        raise BenchError(f"GET {path}: {received} bytes of the {length} announced")
    return 200, received, None


@dataclass
class Exported:
    seconds: float  # POST /user/export to the archive's last byte
    making: float  # the export row's created_at to finished_at
    archive_bytes: int
    polls: int


def export(bench: Bench, client: Client, account: Account) -> Exported:
    started = time.perf_counter()
    answer = client.expect(202, "POST", "/user/export", token=account.token)
    export_id = answer["export_id"]
    polls = 0
    deadline = time.monotonic() + EXPORT_TIMEOUT_SECONDS
    while True:
        status, received, state = drain(client, f"/user/export/{export_id}", account.token)
        polls += 1
        if status == 200:
            break
        if status != 202:
            raise BenchError(f"GET /user/export/{export_id}: {status} {state}")
        if time.monotonic() > deadline:
            raise BenchError(f"export {export_id} not ready after {EXPORT_TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    with bench.db() as conn:
        row = conn.execute(
            "SELECT created_at, finished_at, size_in_bytes, bytes_total FROM user_exports"
            " WHERE id = %s",
            [export_id],
        ).fetchone()
    if row is None:
        raise BenchError(f"export {export_id} has no row")
    created, finished, size, bytes_total = row
    if size != received or bytes_total != SIZE:
        raise BenchError(
            f"export {export_id}: {received} bytes downloaded, archive {size}, files {bytes_total}"
        )
    return Exported(seconds, (finished - created).total_seconds(), received, polls)


def downloads(client: Client, account: Account, data_ids: list[int]) -> float:
    """The same files, GET /user/data/{id} one after the other on one connection."""
    started = time.perf_counter()
    total = 0
    for data_id in data_ids:
        status, received, answer = drain(client, f"/user/data/{data_id}", account.token)
        if status != 200:
            raise BenchError(f"GET /user/data/{data_id}: {status} {answer}")
        total += received
    seconds = time.perf_counter() - started
    if total != SIZE:
        raise BenchError(f"downloaded {total} bytes of {SIZE}")
    return seconds


class Concatenated:
    """The objects' bytes one after the other, fetched as they are read: a non-seekable
    stream, as the export's pipe is to the upload."""

    def __init__(self, s3: Any, keys: list[str]) -> None:
        self.chunks = self._chunks(s3, keys)
        self.left = b""

    @staticmethod
    def _chunks(s3: Any, keys: list[str]) -> Iterator[bytes]:
        for key in keys:
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
            yield from body.iter_chunks(MIB)
            body.close()

    def read(self, amount: int | None = -1) -> bytes:
        wanted = MIB if amount is None or amount < 0 else amount
        parts, have = [self.left], len(self.left)
        while have < wanted and (data := next(self.chunks, b"")):
            parts.append(data)
            have += len(data)
        joined = b"".join(parts)
        self.left = joined[wanted:]
        return joined[:wanted]


def service_s3(endpoint: str) -> Any:
    """A boto3 client set up as userdata/storage.py's: checksums only where required."""
    return s3_client(
        endpoint,
        Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def direct_copy(endpoint: str, keys: list[str]) -> float:
    """The storage work an export cannot avoid: the files read from moto and written back
    as one new object as they are read, with the service's client and transfer settings."""
    s3 = service_s3(endpoint)
    started = time.perf_counter()
    s3.upload_fileobj(Concatenated(s3, keys), BUCKET, "bench/export-copy", Config=SERVICE_TRANSFER)
    seconds = time.perf_counter() - started
    size = s3.head_object(Bucket=BUCKET, Key="bench/export-copy")["ContentLength"]
    s3.delete_object(Bucket=BUCKET, Key="bench/export-copy")
    if size != SIZE:
        raise BenchError(f"direct copy: {size} bytes of {SIZE}")
    return seconds


def export_rows(bench: Bench) -> int:
    """The export's rows; returns its user's id."""
    client = bench.client(bench.ours)
    email = "privacy-export@bench.example.com"
    account = client.register(email)
    data_ids = [
        upload(client, account.token, EXPORT_FILE_BYTES, f"part{i}.bin")
        for i in range(EXPORT_FILES)
    ]
    with bench.db() as conn:
        found = conn.execute(
            "SELECT key FROM users_data WHERE id = ANY(%s) ORDER BY id", [data_ids]
        ).fetchall()
    keys = [str(key) for (key,) in found]
    mb = SIZE / 1e6
    end_to_end = bench.row(
        Row(
            "privacy",
            f"export, {EXPORT_FILES} files, 256 MiB: POST → archive downloaded",
            "MB/s",
            "GET /user/data, each file",
        )
    )
    floor = bench.row(
        Row(
            "privacy",
            "export, the same, against copying + downloading",
            "MB/s",
            "direct copy + the downloads",
            ratio_at_least(0.75),
        )
    )
    making = bench.row(
        Row(
            "privacy",
            "export, archive made (created → finished)",
            "MB/s",
            "direct boto3 copy",
        )
    )
    growth = bench.row(
        Row("privacy", "worker peak RSS growth, export", "MiB", "", ours_at_most(64, "MiB"))
    )
    polls, archive = [], 0
    for _ in range(bench.args.rounds):
        # A fresh login each round: POST /user/export wants an authentication not older than
        # MFA_STEP_UP_SECONDS.
        account = client.login(email)
        before = reset_peaks(bench.ours.worker_pids())
        done = export(bench, client, account)
        growth.add(peak_growth(before))
        download_seconds = downloads(client, account, data_ids)
        copy_seconds = direct_copy(bench.s3_endpoint, keys)
        end_to_end.add(mb / done.seconds, mb / download_seconds)
        floor.add(mb / done.seconds, mb / (copy_seconds + download_seconds))
        making.add(mb / done.making, mb / copy_seconds)
        polls.append(done.polls)
        archive = done.archive_bytes
    client.close()
    end_to_end.note = (
        f"archive {archive / MIB:.1f} MiB (MB/s count the files' {mb:.0f} MB both ways);"
        f" {min(polls)}-{max(polls)} GETs per export, every {POLL_SECONDS:g} s"
    )
    bench.method(
        "privacy",
        f"export: one user with {EXPORT_FILES} files of {EXPORT_FILE_BYTES // MIB} MiB"
        " (uploaded once); each round logs in, times POST /user/export until the archive's"
        f" last byte (GET /user/export/{{id}} every {POLL_SECONDS:g} s while 202, then the"
        " 200 body read in 1 MiB reads and dropped), then the same files by GET"
        " /user/data/{id} one after the other on the same connection, then the direct copy:"
        " boto3 upload_fileobj, with the service's client and transfer settings (checksums"
        " only when required, 8 MiB parts, 2 at a time), of a non-seekable stream that reads"
        " the same 4 objects from moto by get_object as the upload asks for bytes; 'archive"
        " made' is the export row's finished_at - created_at; RSS growth as in files, over"
        " the export",
    )
    return account.user_id


def upload_many(bench: Bench, account: Account) -> float:
    """ERASE_FILES files of ERASE_FILE_BYTES through the API, UPLOADERS connections."""
    numbers = iter(range(ERASE_FILES))
    lock = threading.Lock()

    def work() -> None:
        client = bench.client(bench.ours)
        try:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                upload(client, account.token, ERASE_FILE_BYTES, f"small{number}.bin")
        finally:
            client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(UPLOADERS) as pool:
        for future in [pool.submit(work) for _ in range(UPLOADERS)]:
            future.result()
    return time.perf_counter() - started


def user_prefix(bench: Bench, user_id: int) -> str:
    """userdata.services.user_prefix, as the service's settings make it."""
    prefix = bench.ours.env.get("S3_DATA_PREFIX", "user/data/file").strip("/")
    return f"{prefix}/{user_id}/" if prefix else f"{user_id}/"


def objects_under(endpoint: str, prefix: str) -> int:
    s3 = s3_client(endpoint)
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        count += page.get("KeyCount", 0)
    uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
    return count + len(uploads.get("Uploads", []))


def rows_of_user(bench: Bench, user_id: int) -> dict[str, int]:
    """Every row that still names the user: the user's own, any row with a foreign key to
    it, and audit entries about or by them (plain ids); only the non-zero counts."""
    with bench.db() as conn:
        references = conn.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass"
        ).fetchall()
        columns = [("users", "id"), *references, ("audit_log", "subject_id")]
        columns.append(("audit_log", "actor_id"))
        found = {}
        for table, column in sorted(set(columns)):
            row = conn.execute(
                f'SELECT count(*) FROM {table} WHERE "{column}" = %s',  # noqa: S608
                [user_id],
            ).fetchone()
            if row and row[0]:
                found[f"{table}.{column}"] = int(row[0])
    return found


def outbox_drained(bench: Bench, timeout: float = 60) -> None:
    """Waits for the service to publish the uploads' events, so that the publishers do not
    compete with the erasure for the cores."""
    deadline = time.monotonic() + timeout
    while events.pending(bench) and time.monotonic() < deadline:
        time.sleep(0.2)


@dataclass
class Erased:
    seconds: float  # the command's wall time, start to exit (or to the job's end)
    job: float  # the erasure row's started_at to finished_at
    files: int
    objects: int
    elsewhere: bool  # a worker's runner claimed the job before the command did


def erase(bench: Bench, user_id: int) -> Erased:
    env = {**bench.ours.env, "PROMETHEUS_MULTIPROC_DIR": str(bench.stack.work / "metrics-erase")}
    (bench.stack.work / "metrics-erase").mkdir(exist_ok=True)
    argv = [str(bench.service_python), "manage.py", "erase_user", str(user_id), "--now"]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=bench.service_dir, env=env, capture_output=True, text=True)
    # A runner of the service may take the job between the command's scheduling and its
    # claim: the command then follows it to its end ("running in the service; waiting"),
    # or, before that was so, exits 1 ("running elsewhere") and the bench follows it.
    elsewhere = "running in the service" in done.stdout or (
        done.returncode != 0 and "running elsewhere" in done.stderr
    )
    if done.returncode != 0 and not elsewhere:
        raise BenchError(f"erase_user {user_id} --now: {done.returncode} {done.stderr[-2000:]}")
    deadline = time.monotonic() + EXPORT_TIMEOUT_SECONDS
    while True:
        row = erasure_row(bench, user_id)
        if row["state"] == "done":
            break
        if time.monotonic() > deadline or not elsewhere:
            raise BenchError(f"the erasure of user {user_id} is {row['state']}: {row}")
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if done.returncode == 0 and f"Erased user {user_id}:" not in done.stdout:
        raise BenchError(f"erase_user {user_id} --now printed {done.stdout!r}")
    job = (row["finished_at"] - row["started_at"]).total_seconds()
    return Erased(seconds, job, row["files_deleted"], row["objects_deleted"], elsewhere)


def erasure_row(bench: Bench, user_id: int) -> dict[str, Any]:
    names = ("state", "started_at", "finished_at", "files_deleted", "objects_deleted")
    with bench.db() as conn:
        row = conn.execute(
            f"SELECT {', '.join(names)} FROM user_erasures WHERE user_id = %s",  # noqa: S608
            [user_id],
        ).fetchone()
    if row is None:
        raise BenchError(f"no erasure row for user {user_id}")
    return dict(zip(names, row, strict=True))


def direct_delete(endpoint: str, number: int) -> float:
    """ERASE_FILES objects of ERASE_FILE_BYTES put straight into moto, then timed: one
    DeleteObjects call for all of them, as the service's files step makes."""
    s3 = s3_client(endpoint)
    keys = [f"bench/erase{number}/{i}" for i in range(ERASE_FILES)]
    body = GeneratedBody(ERASE_FILE_BYTES).read()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=BUCKET, Key=key, Body=body), keys))
    started = time.perf_counter()
    answer = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
    )
    seconds = time.perf_counter() - started
    left = objects_under(endpoint, f"bench/erase{number}/")
    if answer.get("Errors") or left:
        raise BenchError(f"direct DeleteObjects: {answer.get('Errors')}, {left} objects left")
    return seconds


def leftovers(bench: Bench, user_id: int, erased: Erased, files: int, exports: int) -> list[str]:
    """What an erasure of a user holding `files` files and `exports` archives got wrong."""
    problems = []
    if (erased.files, erased.objects) != (files, exports):
        problems.append(
            f"user {user_id}: {erased.files} files + {erased.objects} other objects deleted,"
            f" not {files} + {exports}"
        )
    prefix = user_prefix(bench, user_id)
    if left := objects_under(bench.s3_endpoint, prefix):
        problems.append(f"user {user_id}: {left} objects left under {prefix}")
    if rows := rows_of_user(bench, user_id):
        problems.append(f"user {user_id}: rows left {rows}")
    return problems


def erasure_rows(bench: Bench, exporter: int) -> None:
    command = bench.row(
        Row(
            "privacy",
            "erase_user --now, 1,000 files of 1 KiB: wall time",
            "s",
            "",
            ours_at_most(10, "s"),
        )
    )
    job = bench.row(
        Row(
            "privacy",
            "erasure job (started → finished), the same",
            "s",
            "one DeleteObjects, 1,000 keys",
        )
    )
    # Untimed: the export's user, with its files and the rounds' archives, goes first.
    problems = leftovers(bench, exporter, erase(bench, exporter), EXPORT_FILES, bench.args.rounds)
    client = bench.client(bench.ours)
    setups, claimed_elsewhere = [], 0
    for number in range(bench.args.rounds):
        account = client.register(f"privacy-erase{number}@bench.example.com")
        setups.append(upload_many(bench, account))
        stored = int(
            bench.scalar("SELECT count(*) FROM users_data WHERE user_id = %s", [account.user_id])
        )
        objects = objects_under(bench.s3_endpoint, user_prefix(bench, account.user_id))
        if stored != ERASE_FILES or objects != ERASE_FILES:
            raise BenchError(
                f"user {account.user_id} holds {stored} files and {objects} objects,"
                f" not {ERASE_FILES}"
            )
        outbox_drained(bench)
        erased = erase(bench, account.user_id)
        claimed_elsewhere += erased.elsewhere
        problems += leftovers(bench, account.user_id, erased, ERASE_FILES, 0)
        reference = direct_delete(bench.s3_endpoint, number)
        command.add(erased.seconds)
        job.add(erased.job, reference)
    client.close()
    checked = (
        "afterwards no object under the user's prefix and no row naming them"
        if not problems
        else "see the failure"
    )
    if problems:
        command.failed = job.failed = "; ".join(problems)[:300]
    command.note = (
        f"each deleted {ERASE_FILES:,} files (objects in one DeleteObjects call) and no other"
        f" object; {checked}; so did erasing the export's user ({EXPORT_FILES} files,"
        f" {bench.args.rounds} archives); setting up 1,000 uploads took"
        f" {min(setups):.1f}-{max(setups):.1f} s"
        + (f"; {claimed_elsewhere} claimed by a worker's runner" if claimed_elsewhere else "")
    )
    bench.method(
        "privacy",
        f"erasure: each round a new user with {ERASE_FILES:,} files of {ERASE_FILE_BYTES} B"
        f" uploaded through the API ({UPLOADERS} connections), the outbox left to drain,"
        " then `manage.py erase_user ID --now` timed from its start to its exit (Django's"
        " start included); 'erasure job' is the erasure row's finished_at - started_at;"
        " afterwards list_objects_v2 and list_multipart_uploads under the user's prefix must"
        " find nothing, and no row may name the user (users, every column with a foreign key"
        " to users, audit_log.subject_id and actor_id), else the rows FAIL; the reference"
        f" puts {ERASE_FILES:,} objects of the same size straight into moto and times one"
        " delete_objects call of all of them",
    )


def scenario(bench: Bench) -> None:
    erasure_rows(bench, export_rows(bench))
