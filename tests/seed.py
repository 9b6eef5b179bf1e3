"""A database of the Rust service, as its README describes it, for the import's tests and
its benchmark: its tables, and password hashes made the way it made them (argon2i with its
defaults, one global salt for every user)."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import psycopg
from argon2.low_level import Type, hash_secret

# The Rust service's SERVER_PASSWORD_SALT default: the salt of every hash it made.
SALT = "78197b60-c950-4339-a52c-053165a04764"

SCHEMA = """
CREATE TABLE users (
    id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password VARCHAR(512) NOT NULL,
    state INT DEFAULT 0 NOT NULL,
    verified INT DEFAULT 0 NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now() NOT NULL,
    updated_at TIMESTAMPTZ,
    role VARCHAR(20) NOT NULL
);
CREATE TABLE users_verified (
    id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id INT NOT NULL UNIQUE REFERENCES users(id),
    token VARCHAR(512) NOT NULL,
    email TEXT NOT NULL UNIQUE,
    state INT DEFAULT 0 NOT NULL,
    exp_date TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now() NOT NULL,
    verify_date TIMESTAMPTZ,
    updated_at TIMESTAMPTZ
);
CREATE TABLE users_tokens (
    id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id INT REFERENCES users(id),
    token VARCHAR(512) NOT NULL,
    state INT DEFAULT 0 NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now() NOT NULL,
    updated_at TIMESTAMPTZ
);
CREATE TABLE users_data (
    id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id INT REFERENCES users(id),
    filename VARCHAR(512) NOT NULL,
    size_in_bytes BIGINT NOT NULL,
    comments VARCHAR(512) NOT NULL,
    data_type VARCHAR(64) NOT NULL,
    encoding VARCHAR(64) NOT NULL,
    sloc VARCHAR(1024) NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now() NOT NULL,
    updated_at TIMESTAMPTZ
);
CREATE TABLE users_otp (
    id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id INT REFERENCES users(id),
    token VARCHAR(512) NOT NULL,
    email TEXT,
    state INT DEFAULT 0 NOT NULL,
    exp_date TIMESTAMPTZ,
    consumed_date TIMESTAMPTZ,
    created_at TIMESTAMPTZ DEFAULT now() NOT NULL
);
"""


@cache
def rust_hash(password: str, salt: str = SALT) -> str:
    """The PHC string the Rust service stored: rust-argon2's default Config (argon2i,
    version 19, m=4096 KiB, t=3, p=1, 32-byte hash) over the global salt's bytes. One salt
    for everyone makes one hash per password, hence the cache."""
    return hash_secret(
        password.encode(),
        salt.encode(),
        time_cost=3,
        memory_cost=4096,
        parallelism=1,
        hash_len=32,
        type=Type.I,
        version=19,
    ).decode()


class SeedDatabase:
    """A database in the Rust service's schema, filled through plain SQL as it filled it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.connection = psycopg.connect(dsn, autocommit=True)

    def close(self) -> None:
        self.connection.close()

    def add_user(
        self,
        email: str,
        password: str,
        *,
        state: int = 0,
        verified: int = 1,
        role: str = "user",
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        id: int | None = None,
    ) -> int:
        columns: dict[str, Any] = {
            "email": email,
            "password": rust_hash(password),
            "state": state,
            "verified": verified,
            "role": role,
            "updated_at": updated_at,
        }
        if created_at is not None:
            columns["created_at"] = created_at
        return self._insert("users", columns, id)

    def add_file(
        self,
        user_id: int | None,
        sloc: str,
        *,
        filename: str = "report.csv",
        size_in_bytes: int = 0,
        comments: str = "file",
        data_type: str = "file",
        encoding: str = "na",
        updated_at: datetime | None = None,
        id: int | None = None,
    ) -> int:
        columns = {
            "user_id": user_id,
            "filename": filename,
            "size_in_bytes": size_in_bytes,
            "comments": comments,
            "data_type": data_type,
            "encoding": encoding,
            "sloc": sloc,
            "updated_at": updated_at,
        }
        return self._insert("users_data", columns, id)

    def execute(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        cursor = self.connection.execute(statement, params)
        return cursor.fetchall() if cursor.description else []

    def _insert(self, table: str, columns: dict[str, Any], id: int | None) -> int:
        # The Rust tables' ids are GENERATED ALWAYS: an explicit one needs an override.
        override = ""
        if id is not None:
            columns = {"id": id, **columns}
            override = " OVERRIDING SYSTEM VALUE"
        names = ", ".join(columns)
        places = ", ".join(["%s"] * len(columns))
        row = self.execute(
            f"INSERT INTO {table} ({names}){override} VALUES ({places}) RETURNING id",  # noqa: S608
            list(columns.values()),
        )
        return int(row[0][0])


@contextmanager
def seed_database(server: dict[str, Any], name: str) -> Iterator[SeedDatabase]:
    """A new database `name` on the server of Django's `server` settings, in the Rust
    schema; dropped at the end."""
    user = quote(server["USER"]) + (f":{quote(server['PASSWORD'])}" if server["PASSWORD"] else "")
    base = f"postgresql://{user}@{server['HOST']}:{server['PORT']}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    seed = SeedDatabase(f"{base}/{name}")
    try:
        seed.execute(SCHEMA)
        yield seed
    finally:
        seed.close()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
