"""Brings the users and files of the Rust service's database into this one
(`manage.py import_seed`; README, "Importing from the Rust service").

Rows keep their ids, passwords their argon2i hashes (rehashed at the first login) and
files their objects (a row names the object the Rust service stored). A row that cannot
come over as it is — an address another account has here, or that two Rust accounts
share once spelled as this service spells addresses, an id a local row already has, a
value this service's constraints refuse — is a conflict: reported, not imported, and
nothing local changes for it; fix it at the source and run again. A row imported before
is skipped, so a second run changes nothing. The source is read in one snapshot.
"""

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from restapi.signals import announce_each
from userdata import storage
from userdata.models import UserFile
from users.models import MalformedEmail, Role, User, UserState, normalize_email

USER_COLUMNS = "id, email, password, state, verified, role, created_at, updated_at"
FILE_COLUMNS = (
    "id, user_id, filename, size_in_bytes, comments, data_type, encoding, sloc, "
    "created_at, updated_at"
)
# Tables whose rows stay behind: their tokens were stored in clear.
LEFT_BEHIND = ("users_verified", "users_otp", "users_tokens")
# A PHC string of argon2 (the Rust service made argon2i ones).
PHC = re.compile(r"\$argon2(i|d|id)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+")
# How often a batch is tried again when a concurrent write (a registration taking an
# address or id being imported) breaks it: the next try sees that row and reports it.
BATCH_ATTEMPTS = 3
CONTENT_TYPE = "application/octet-stream"  # the Rust service did not keep one

T = TypeVar("T")
# Once: an enum's .values builds its list on every call.
STATES, ROLES = frozenset(UserState.values), frozenset(Role.values)


class NotASeedDatabase(Exception):
    """The source lacks the Rust service's tables, or is a database of this service."""


@dataclass
class Tally:
    imported: int = 0
    skipped: int = 0  # imported by an earlier run
    conflicts: int = 0

    def add(self, other: "Tally") -> None:
        self.imported += other.imported
        self.skipped += other.skipped
        self.conflicts += other.conflicts


@dataclass
class Summary:
    users: Tally = field(default_factory=Tally)
    files: Tally = field(default_factory=Tally)
    source_users: int = 0
    source_files: int = 0
    admins: list[int] = field(default_factory=list)
    left_behind: dict[str, int] = field(default_factory=dict)
    # Where each sequence stood before and after: equal when nothing moved.
    sequences: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)


# Told each conflict: what ("user" or "file"), its id in the source, and why.
Report = Callable[[str, int, str], None]


class Source:
    """The Rust service's database, read in one snapshot (REPEATABLE READ, read only)."""

    def __init__(self, dsn: str) -> None:
        self.connection = psycopg.connect(dsn, connect_timeout=10)
        self.connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.connection.read_only = True
        try:
            self._check()
        except BaseException:
            self.connection.close()
            raise

    def close(self) -> None:
        self.connection.close()

    def rows(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(statement, params).fetchall()

    def stream(self, statement: str) -> Iterator[tuple[Any, ...]]:
        """Rows through a server-side cursor, so a million of them are never all in memory."""
        with self.connection.cursor(name="seed_import_stream") as cursor:
            cursor.itersize = 10_000
            cursor.execute(statement)
            yield from cursor

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608

    def exists(self, table: str) -> bool:
        return self.rows("SELECT to_regclass(%s) IS NOT NULL", [table])[0][0] is True

    def max_id(self, table: str) -> int | None:
        value = self.rows(f"SELECT max(id) FROM {table}")[0][0]  # noqa: S608
        return None if value is None else int(value)

    def _check(self) -> None:
        if self.exists("django_migrations"):
            raise NotASeedDatabase("that is a database of this service, not of the Rust service")
        try:
            self.rows(f"SELECT {USER_COLUMNS} FROM users LIMIT 0")  # noqa: S608
            self.rows(f"SELECT {FILE_COLUMNS} FROM users_data LIMIT 0")  # noqa: S608
        except psycopg.errors.UndefinedTable as exc:
            raise NotASeedDatabase(f"not the Rust service's schema: {exc}") from exc
        except psycopg.errors.UndefinedColumn as exc:
            raise NotASeedDatabase(f"not the Rust service's schema: {exc}") from exc
        finally:
            # Still one snapshot: the checks above ran in it, and a failed one ended it.
            if self.connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                self.connection.rollback()


def _page(source: Source, table: str, columns: str, after: int, size: int) -> list[Any]:
    return source.rows(
        f"SELECT {columns} FROM {table} WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608
        [after, size],
    )


def shared_addresses(source: Source) -> dict[int, str]:
    """Why each Rust user whose address another Rust user's also becomes (the Rust service
    told `Bob@x.com` from `bob@x.com`; here they are one account) cannot be imported."""
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for user_id, email in source.stream("SELECT id, email FROM users ORDER BY id"):
        try:
            groups[normalize_email(email)].append((user_id, email))
        except MalformedEmail:
            continue
    reasons = {}
    for address, members in groups.items():
        if len(members) > 1:
            for user_id, _ in members:
                others = ", ".join(f"{i} ({e!r})" for i, e in members if i != user_id)
                reasons[user_id] = f"its address is {address!r} here, as that of Rust user {others}"
    return reasons


def _address(email: str) -> tuple[str | None, str | None]:
    """The address as this service stores it, or why it cannot be one."""
    try:
        address = normalize_email(email)
        validate_email(address)
    except (MalformedEmail, ValidationError):
        return None, f"{email!r} is not a valid email address"
    return address, None


def _user_problem(row: tuple[Any, ...]) -> str | None:
    _, _, password, state, verified, role, _, _ = row
    if not PHC.fullmatch(password or ""):
        return "its password is not an argon2 hash"
    try:
        extract_parameters(password)
    except InvalidHashError:
        return "its password is not an argon2 hash"
    if len(password) + len("argon2") > User._meta.get_field("password").max_length:  # type: ignore[operator]
        return "its password hash is too long"
    if state not in STATES:
        return f"state {state!r} is neither 0 (active) nor 1 (deactivated)"
    if verified not in (0, 1):
        return f"verified {verified!r} is neither 0 nor 1"
    if role not in ROLES:
        return f"role {role!r} is neither 'user' nor 'admin'"
    return None


USER_TABLE = (
    "users (id, email, password, state, verified, role, password_change_required, "
    "imported_at, created_at, updated_at)"
)


def _copy(table: str, rows: list[tuple[Any, ...]]) -> None:
    """The rows into `table` ("name (columns)") by one COPY. Plain SQL: the ORM would stamp
    created_at and updated_at with the time of the import; and one INSERT per row (even
    pipelined) took about twice as long."""
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _committed(work: Callable[[], T]) -> T:
    """work() in one transaction, tried again when a concurrent write breaks it."""
    attempts = 1
    while True:
        try:
            with transaction.atomic():
                return work()
        except (IntegrityError, psycopg.IntegrityError):  # COPY's are psycopg's own
            if attempts == BATCH_ATTEMPTS:
                raise
            attempts += 1


def import_users(
    rows: list[tuple[Any, ...]], shared: dict[int, str], report: Report, summary: Summary
) -> Tally:
    """One batch of Rust users, in one transaction."""
    tally, admins, conflicts = _committed(lambda: _users_batch(rows, shared))
    for user_id, reason in conflicts:
        report("user", user_id, reason)
    summary.admins += admins
    return tally


def _users_batch(
    rows: list[tuple[Any, ...]], shared: dict[int, str]
) -> tuple[Tally, list[int], list[tuple[int, str]]]:
    """Imports what it can of the rows; returns the tally, the admins among them and the
    conflicts (source id, why)."""
    tally, conflicts = Tally(), []
    ids = [row[0] for row in rows]
    local = dict(User.objects.filter(pk__in=ids).values_list("pk", "imported_at"))
    # Only for rows not here yet: a second run over a million users skips at once.
    addresses = {row[0]: _address(row[1]) for row in rows if row[0] not in local}
    taken = dict(
        User.objects.filter(
            email__in=[address for address, _ in addresses.values() if address]
        ).values_list("email", "pk")
    )
    now = timezone.now()
    new: list[User] = []
    for row in rows:
        user_id, _, password, state, verified, role, created_at, updated_at = row
        if user_id in local:
            if local[user_id] is not None:
                tally.skipped += 1
                continue
            conflicts.append((user_id, f"id {user_id} is a user of this service already"))
            tally.conflicts += 1
            continue
        address, invalid = addresses[user_id]
        reason = invalid or shared.get(user_id) or _user_problem(row)
        if reason is None and address in taken:
            reason = f"{address!r} is the address of user {taken[address]} of this service"
        if reason is not None or address is None:  # (no address means a reason)
            conflicts.append((user_id, reason or "no address"))
            tally.conflicts += 1
            continue
        new.append(
            User(
                pk=user_id,
                email=address,
                # Django's prefix for its argon2 hasher, before the Rust PHC string unchanged.
                password=f"argon2{password}",
                state=state,
                verified=verified,
                role=role,
                imported_at=now,
                created_at=created_at,
                updated_at=updated_at or created_at,
            )
        )
    _copy(
        USER_TABLE,
        [
            (
                u.pk,
                u.email,
                u.password,
                u.state,
                u.verified,
                u.role,
                False,
                u.imported_at,
                u.created_at,
                u.updated_at,
            )
            for u in new
        ],
    )
    announce_each(new, "user.imported")
    tally.imported = len(new)
    return tally, [u.pk for u in new if u.role == Role.ADMIN], conflicts


def key_of(sloc: str) -> str | None:
    """The key of the object `sloc` names, if it names one in this service's storage (the
    bucket of S3_DATA_BUCKET); None for anywhere else."""
    scheme, _, rest = sloc.partition("://")
    key = rest.partition("/")[2]
    if scheme != "s3" or not key:
        return None
    return key if storage.backend().sloc(key) == sloc else None


def _file_problem(row: tuple[Any, ...], key: str | None) -> str | None:
    _, user_id, filename, size, comments, data_type, encoding, sloc, _, _ = row
    limits = {f.name: f.max_length for f in UserFile._meta.fields if f.max_length}
    if user_id is None:
        return "it has no owner"
    if key is None:
        return f"{sloc!r} is not an object in this service's storage"
    if len(key) > limits["key"] or len(sloc) > limits["sloc"]:
        return "its sloc is too long"
    if not filename:
        return "its filename is empty"
    for name, value in (
        ("filename", filename),
        ("comments", comments),
        ("data_type", data_type),
        ("encoding", encoding),
    ):
        if len(value) > limits[name]:
            return f"its {name} is longer than {limits[name]} characters"
    if size < 0:
        return f"its size_in_bytes is {size}"
    return None


FILE_TABLE = (
    "users_data (id, user_id, filename, data_type, size_in_bytes, comments, encoding, key, "
    "sloc, sha256, content_type, created_at, updated_at)"
)


def import_files(rows: list[tuple[Any, ...]], report: Report) -> Tally:
    """One batch of Rust file rows, in one transaction. A file comes with its owner: one
    whose owner was not imported (a conflict, or not yet read) waits for a later run."""
    tally, conflicts = _committed(lambda: _files_batch(rows))
    for data_id, reason in conflicts:
        report("file", data_id, reason)
    return tally


def _files_batch(rows: list[tuple[Any, ...]]) -> tuple[Tally, list[tuple[int, str]]]:
    tally, conflicts = Tally(), []
    keys = {row[0]: key_of(row[7]) for row in rows}
    owners = set(
        User.objects.filter(
            pk__in={row[1] for row in rows if row[1] is not None}, imported_at__isnull=False
        ).values_list("pk", flat=True)
    )
    local = {
        pk: (user_id, key)
        for pk, user_id, key in UserFile.objects.filter(pk__in=keys).values_list(
            "pk", "user_id", "key"
        )
    }
    taken = dict(
        UserFile.objects.filter(key__in=[k for k in keys.values() if k]).values_list("key", "pk")
    )
    new = []
    for row in rows:
        data_id, user_id, filename, size, comments, data_type, encoding, sloc, created, updated = (
            row
        )
        key = keys[data_id]
        if data_id in local:
            if local[data_id] == (user_id, key):
                tally.skipped += 1
                continue
            reason: str | None = f"id {data_id} is a file of this service already"
        else:
            reason = _file_problem(row, key)
        if reason is None and user_id not in owners:
            reason = f"its owner, Rust user {user_id}, was not imported"
        if reason is None and key in taken:
            reason = f"its object is that of file {taken[key]} here"
        if reason is not None or key is None:  # (no key means a reason)
            conflicts.append((data_id, reason or "no key"))
            tally.conflicts += 1
            continue
        taken[key] = data_id
        new.append(
            (
                data_id,
                user_id,
                filename,
                data_type,
                size,
                comments,
                encoding,
                key,
                sloc,
                "",  # the SHA-256, unknown until --hash-files
                CONTENT_TYPE,
                created,
                updated or created,
            )
        )
    _copy(FILE_TABLE, new)
    tally.imported = len(new)
    return tally, conflicts


def _sequence_past(table: str, highest: int | None) -> tuple[int | None, int | None]:
    """Moves the table's id sequence past `highest` (never back), so that rows made here
    from now on never take an id being imported. Returns its last value before and after."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s, pg_sequence_last_value(s::regclass) FROM pg_get_serial_sequence(%s, 'id') s",
            [table],
        )
        sequence, last = cursor.fetchone()
        if highest is None or (last is not None and last >= highest):
            return last, last
        cursor.execute("SELECT setval(%s::regclass, %s)", [sequence, highest])
    return last, highest


def run(
    source: Source,
    *,
    batch_size: int,
    report: Report,
    progress: Callable[[str, int], Any],
) -> Summary:
    """Imports what the source holds. `progress(what, total)` is entered around each phase
    and yields a counter with `.add(n)`."""
    summary = Summary(
        source_users=source.count("users"),
        source_files=source.count("users_data"),
        left_behind={t: source.count(t) for t in LEFT_BEHIND if source.exists(t)},
    )
    # First: a user registering here while the import runs gets an id after every Rust one.
    summary.sequences["users"] = _sequence_past("users", source.max_id("users"))
    summary.sequences["users_data"] = _sequence_past("users_data", source.max_id("users_data"))
    shared = shared_addresses(source)
    with progress("Importing users", summary.source_users) as counter:
        after = 0
        while rows := _page(source, "users", USER_COLUMNS, after, batch_size):
            summary.users.add(import_users(rows, shared, report, summary))
            counter.add(len(rows))
            after = rows[-1][0]
    with progress("Importing files", summary.source_files) as counter:
        after = 0
        while rows := _page(source, "users_data", FILE_COLUMNS, after, batch_size):
            summary.files.add(import_files(rows, report))
            counter.add(len(rows))
            after = rows[-1][0]
    return summary


@dataclass
class HashTally:
    hashed: int = 0
    resized: int = 0
    missing: int = 0


def unhashed_files() -> Any:
    return UserFile.objects.filter(sha256="").order_by("pk")


def hash_files(
    *, report: Callable[[int, str], None], progress: Callable[[str, int], Any]
) -> HashTally:
    """Computes the SHA-256 of each imported file whose object exists (streaming it), and
    its real size when the row's is wrong (downloads send the row's as Content-Length)."""
    tally = HashTally()
    records = unhashed_files().only("pk", "key", "size_in_bytes")
    with progress("Hashing files", records.count()) as counter:
        for record in records.iterator(chunk_size=1000):
            try:
                digest, size = storage.sha256_and_size(record.key)
            except storage.Missing:
                report(record.pk, f"its object {record.key!r} is not in storage")
                tally.missing += 1
            else:
                changes: dict[str, Any] = {"sha256": digest}
                if size != record.size_in_bytes:
                    report(
                        record.pk,
                        f"its object has {size} bytes, not {record.size_in_bytes}: corrected",
                    )
                    changes["size_in_bytes"] = size
                    tally.resized += 1
                # Only over the unknown digest: a row changed meanwhile keeps its change.
                UserFile.objects.filter(pk=record.pk, sha256="").update(**changes)
                tally.hashed += 1
            counter.add()
    return tally
