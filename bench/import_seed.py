#!/usr/bin/env python
"""manage.py import_seed on a large database of the Rust service, and what the first login
of an imported user (its rehash) costs beside a normal login.

    .venv/bin/python bench/import_seed.py [--users 100000] [--files-per-user 1] [--logins 20]

Needs PostgreSQL (POSTGRES_ENDPOINT, default 127.0.0.1:5432, user postgres) and the dev
assets (`make assets`). Makes a Rust-schema database (tests/seed.py) and a database of
this service, both dropped at the end. Prints users/s of a first import with events off
and with them on (one outbox row per user), of a second run, and the median login times.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import psycopg
from argon2 import PasswordHasher, Type
from common import BASE_DIR, URL, bench_database, serve, session

sys.path.insert(0, str(BASE_DIR))
from tests.seed import SCHEMA, rust_hash

PASSWORD = "a bench passphrase 7"
BUCKET = "bench-bucket"


@contextmanager
def rust_database(env: dict[str, str], users: int, files_per_user: int) -> Iterator[str]:
    """A Rust-schema database with `users` users (a few passwords: one salt for everyone
    makes one hash per password) and their files; yields its DSN."""
    host, _, port = env["POSTGRES_ENDPOINT"].rpartition(":")
    base = f"postgresql://{env['POSTGRES_USERNAME']}@{host}:{port}"
    name = f"{env['DB_NAME']}_rust"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(f"{base}/{name}", autocommit=True) as db:
            db.execute(SCHEMA)
            hashes = [rust_hash(PASSWORD), rust_hash("12345"), rust_hash("qwerty")]
            with db.cursor().copy(
                "COPY users (email, password, state, verified, role) FROM STDIN"
            ) as copy:
                for i in range(users):
                    state, verified = int(i % 50 == 49), int(i % 4 != 0)
                    copy.write_row((f"User{i}@Example.com", hashes[i % 3], state, verified, "user"))
            with db.cursor().copy(
                "COPY users_data (user_id, filename, size_in_bytes, comments, data_type, "
                "encoding, sloc) FROM STDIN"
            ) as copy:
                for i in range(users * files_per_user):
                    user_id = i % users + 1
                    key = f"user/data/file/{user_id}/2023/01/02/{i:08x}.data.csv"
                    copy.write_row(
                        (user_id, "data.csv", 1000, "file", "file", "na", f"s3://{BUCKET}/{key}")
                    )
            db.execute("ANALYZE")
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def import_seed(env: dict[str, str], dsn: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "import_seed", "--dsn", dsn],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, result.stdout


def login_times(count: int) -> tuple[list[float], list[float]]:
    """Milliseconds of the first login of `count` imported users, then of their second."""
    http = session()
    http.get(f"{URL}/health/live")
    first: list[float] = []
    second: list[float] = []
    for times in (first, second):
        for i in range(1, count + 1):
            body = {"email": f"user{i * 3}@example.com", "password": PASSWORD}
            started = time.perf_counter()
            response = http.post(f"{URL}/login", json=body)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 201:
                raise SystemExit(f"login failed: {response.status_code} {response.text}")
    return first, second


def hash_work(rounds: int = 20) -> tuple[float, float]:
    """Milliseconds of a first login's argon2 work (argon2i check, argon2id hash) and of a
    normal login's (argon2id check), medians, without the server around them."""
    rust = rust_hash(PASSWORD)
    ours = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    own = ours.hash(PASSWORD)
    first, normal = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        ours.verify(rust, PASSWORD)
        ours.hash(PASSWORD)
        first.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        ours.verify(own, PASSWORD)
        normal.append((time.perf_counter() - started) * 1000)
    return statistics.median(first), statistics.median(normal)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--files-per-user", type=int, default=1)
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()
    storage = {
        "S3_DATA_UPLOAD_TO_S3": "1",
        "S3_DATA_BUCKET": BUCKET,
        # Never contacted: the import names objects, it does not read them.
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "LOG_LEVEL": "WARNING",
    }
    events = {
        "KAFKA_ENABLED": "1",
        "KAFKA_PUBLISH_EVENTS": "1",
        "KAFKA_BROKERS": "127.0.0.1:9",
        "DB_NAME": f"restapi_bench_{os.getpid()}_events",
    }
    with ExitStack() as stack, bench_database(storage) as env:
        with rust_database(env, args.users, args.files_per_user) as dsn:
            total = args.users * args.files_per_user
            print(f"{args.users:,} Rust users with {total:,} files")
            for what, environment in (("events off", env), ("events on", None)):
                if environment is None:
                    environment = stack.enter_context(bench_database({**storage, **events}))
                seconds, out = import_seed(environment, dsn)
                print(
                    f"first import, {what}: {seconds:.1f} s for the process, "
                    f"{args.users / seconds:,.0f} users/s; the command: {out.splitlines()[-1]}"
                )
            seconds, out = import_seed(env, dsn)
            print(f"second run: {seconds:.1f} s ({out.splitlines()[-2]})")
        with serve(env):
            first, second = login_times(args.logins)
        print(
            f"login over HTTPS, median of {args.logins}: first of an imported user (argon2i "
            f"check, argon2id rehash, password rules) {statistics.median(first):.0f} ms, "
            f"next {statistics.median(second):.0f} ms"
        )
        first_ms, normal_ms = hash_work()
        print(
            f"argon2 work alone, median of 20: first login {first_ms:.1f} ms (argon2i check "
            f"+ argon2id hash), normal login {normal_ms:.1f} ms (argon2id check)"
        )


if __name__ == "__main__":
    main()
