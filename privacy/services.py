"""Writes of privacy: asking for an export or an erasure, and the runner's steps of each.

A job is claimed with SELECT … FOR UPDATE SKIP LOCKED, so every worker may run jobs and
no two run one; the claim is a lease, renewed as the job goes, and a job whose lease ran
out (its worker was killed) is claimed again and resumed. Storage failing makes a job try
again later, never finish early.
"""

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import audit_pseudonymise, entry_add
from auth.ratelimit import bucket_take
from auth.services import account_counters_forget, session_revoke_all
from mfa.services import recent_authentication_check
from privacy.archive import archive_write
from privacy.metrics import ERASURES, EXPORTS
from privacy.models import (
    ERASURE_PENDING,
    EXPORT_UNFINISHED,
    Erasure,
    ErasureState,
    ErasureStep,
    Export,
    ExportState,
)
from restapi.signals import announce_erased
from userdata import storage
from userdata.selectors import files_of_user
from userdata.services import export_key, files_erase_batch, object_download, user_prefix
from users import emails
from users.models import User
from users.services import current_password_check, user_deactivate_unchecked

logger = logging.getLogger(__name__)

# Files an erasure deletes per step (their objects in one DeleteObjects call).
ERASE_BATCH = storage.DELETE_BATCH
# An export writes its progress at most this often (and renews its lease then).
PROGRESS_EVERY_SECONDS = 1.0
# Retries wait this long, doubling each time, up to the cap.
RETRY_FIRST_SECONDS = 30
RETRY_MAX_SECONDS = 3600

# Set when a job is due now: this process's runner (privacy/runner.py) waits on it.
DUE = threading.Event()


def _lease() -> timedelta:
    return timedelta(seconds=settings.PRIVACY_JOB_LEASE_SECONDS)


def _error_text(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__


def _retry_later(job: Export | Erasure, *, state: str, exc: BaseException) -> None:
    """Storage failed the job: it waits (30 s, doubling with each attempt) and goes on."""
    job.state, job.lease_until = state, None
    delay = min(RETRY_FIRST_SECONDS * 2 ** max(job.attempts - 1, 0), RETRY_MAX_SECONDS)
    job.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    job.last_error = _error_text(exc)
    job.save(update_fields=["state", "lease_until", "next_attempt_at", "last_error"])


# Exports


def export_request(*, user: User, auth_time: int | None) -> Export:
    """An export of everything about the user (202). One at a time: while one is being
    made, asking again answers that one."""
    recent_authentication_check(auth_time=auth_time)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        current = Export.objects.filter(state__in=EXPORT_UNFINISHED, user_id=user.pk).first()
        if current is not None:
            return current
        bucket_take(action="export_account", key=str(user.pk))
        export = Export(user_id=user.pk)
        export.key = export_key(user.pk, export.pk)
        export.save()
        entry_add(
            user_id=user.pk, action="user.export_requested", details={"export_id": str(export.pk)}
        )
        transaction.on_commit(DUE.set)
    return export


def export_claim() -> Export | None:
    """The next export to make, held by this runner; one that ran out of attempts fails."""
    now = timezone.now()
    with transaction.atomic():
        export = (
            Export.objects.select_for_update(skip_locked=True)
            .filter(
                Q(state=ExportState.PENDING, next_attempt_at__lte=now)
                | Q(state=ExportState.RUNNING, lease_until__lt=now)
            )
            .order_by("next_attempt_at")
            .first()
        )
        if export is None:
            return None
        if export.attempts >= settings.USER_EXPORT_MAX_ATTEMPTS:
            _export_give_up(export, export.last_error or "its runner stopped every attempt")
            return None
        export.state, export.lease_until = ExportState.RUNNING, now + _lease()
        export.attempts += 1
        export.files_done = export.bytes_done = 0
        export.save(update_fields=["state", "lease_until", "attempts", "files_done", "bytes_done"])
    return export


def _export_give_up(export: Export, error: str) -> None:
    now = timezone.now()
    export.state, export.finished_at, export.lease_until = ExportState.FAILED, now, None
    export.expires_at = now + timedelta(seconds=settings.USER_EXPORT_TTL_SECONDS)
    export.last_error = error[:500]
    export.save(update_fields=["state", "finished_at", "lease_until", "expires_at", "last_error"])
    EXPORTS.labels("failed").inc()


class _Progress:
    """Writes an export's progress (and renews its lease) at most once a second."""

    def __init__(self, export: Export) -> None:
        self.export = export
        self.written_at = 0.0

    def __call__(self, files_done: int, bytes_done: int) -> None:
        now = timezone.now()
        if now.timestamp() - self.written_at < PROGRESS_EVERY_SECONDS:
            return
        self.written_at = now.timestamp()
        Export.objects.filter(pk=self.export.pk, state=ExportState.RUNNING).update(
            files_done=files_done, bytes_done=bytes_done, lease_until=now + _lease()
        )


def export_run(export: Export) -> None:
    """Makes the archive of a claimed export and stores it. A storage failure puts it back
    to be tried again later (or, out of attempts, fails it)."""
    user = User.objects.get(pk=export.user_id)
    files = files_of_user(user_id=user.pk)
    export.files_total = len(files)
    export.bytes_total = sum(record.size_in_bytes for record in files)
    export.save(update_fields=["files_total", "bytes_total"])
    progress = _Progress(export)
    try:
        stored = _upload_written(
            export.key,
            lambda out: archive_write(out, user=user, files=files, progress=progress),
        )
    except storage.StorageError as exc:
        logger.warning("Export %s: storage failed, trying again later: %s", export.pk, exc)
        _export_retry(export, exc)
        return
    now = timezone.now()
    finished = Export.objects.filter(pk=export.pk, state=ExportState.RUNNING).update(
        state=ExportState.READY,
        finished_at=now,
        expires_at=now + timedelta(seconds=settings.USER_EXPORT_TTL_SECONDS),
        files_done=export.files_total,
        bytes_done=export.bytes_total,
        size_in_bytes=stored.size,
        sha256=stored.sha256,
        lease_until=None,
        last_error="",
    )
    if finished:
        EXPORTS.labels("ready").inc()
    elif not Export.objects.filter(pk=export.pk).exists():
        # Withdrawn meanwhile (the user asked for an erasure): nothing may keep the archive.
        storage.delete_keys([export.key])


def _export_retry(export: Export, exc: BaseException) -> None:
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export.pk)
        if export.attempts >= settings.USER_EXPORT_MAX_ATTEMPTS:
            _export_give_up(export, _error_text(exc))
            return
        _retry_later(export, state=ExportState.PENDING, exc=exc)
    EXPORTS.labels("retried").inc()


def _upload_written(key: str, write: Callable[[BinaryIO], None]) -> storage.Stored:
    """Stores what `write` writes, as it writes it: `write` runs here (it reads the
    database, on this thread's connection) into a pipe that an upload thread reads, so
    neither the archive nor any file in it is held in memory. If writing fails, the upload
    fails too (a truncated archive is never stored) and the writer's error is raised; if
    the upload fails, writing stops and the upload's error is raised."""
    read_end, write_end = os.pipe()
    writer_failed = threading.Event()
    outcome: list[storage.Stored | BaseException] = []

    def upload() -> None:
        with open(read_end, "rb") as pipe:
            try:
                source = _Checked(pipe, writer_failed)
                outcome.append(storage.upload_unsized(key, source, content_type="application/zip"))
            except BaseException as exc:  # raised below, in the job's thread
                outcome.append(exc)

    thread = threading.Thread(target=upload, name="export-upload", daemon=True)
    thread.start()
    out = open(write_end, "wb")  # noqa: SIM115  (closed below, once the outcome is known)
    try:
        write(out)
    except BrokenPipeError:
        pass  # the upload stopped reading: its own error says why
    except BaseException:
        writer_failed.set()  # before the end of the pipe, which the upload then refuses
        raise
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.close()
        thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


class _Checked:
    """The pipe's reading end, which refuses its end when the writer failed: the upload
    must not take a short archive for a whole one."""

    def __init__(self, pipe: BinaryIO, writer_failed: threading.Event) -> None:
        self.pipe, self.writer_failed = pipe, writer_failed

    def read(self, size: int = -1, /) -> bytes:
        data = self.pipe.read(size)
        if not data and self.writer_failed.is_set():
            raise storage.StorageError("the archive was not written to its end")
        return data


def exports_expired_delete(*, limit: int = 100) -> int:
    """Deletes expired exports, their archive first; returns how many. Raises StorageError
    (a row is deleted only once its archive is)."""
    expired = Export.objects.filter(expires_at__lte=timezone.now()).order_by("expires_at")
    deleted = 0
    for export in expired[:limit]:
        if export.state == ExportState.READY:
            storage.delete_keys([export.key])
        export.delete()
        EXPORTS.labels("expired").inc()
        deleted += 1
    return deleted


def export_disposition(export: Export) -> str:
    return f'attachment; filename="export-{export.pk}.zip"'


def export_download(*, export: Export) -> storage.Chunks | str:
    """A ready export's archive, as a file is downloaded."""
    return object_download(
        key=export.key, disposition=export_disposition(export), content_type="application/zip"
    )


# Erasures


def erasure_request(
    *,
    actor: User,
    user: User,
    current_password: str | None = None,
    auth_time: int | None = None,
    client_ip: str = "",
) -> Erasure:
    """Deactivates the user, revokes every session and schedules the hard deletion after
    USER_ERASE_GRACE_SECONDS. The owner gives their password and a recent authentication;
    an admin erasing someone else needs neither. Asked again, answers the scheduled one."""
    if actor.pk == user.pk:
        recent_authentication_check(auth_time=auth_time)
        current_password_check(
            user=user,
            current_password=current_password,
            client_ip=client_ip,
            doing="erase your account",
        )
    return erasure_schedule(
        user=user,
        requested_by="user" if actor.pk == user.pk else "admin",
        delay=timedelta(seconds=settings.USER_ERASE_GRACE_SECONDS),
    )


@transaction.atomic
def erasure_schedule(*, user: User, requested_by: str, delay: timedelta) -> Erasure:
    """Also for operators (manage.py erase_user, with no actor). A scheduled erasure keeps
    its due time unless `delay` brings it closer."""
    user = User.objects.select_for_update().get(pk=user.pk)
    due_at = timezone.now() + delay
    erasure = Erasure.objects.select_for_update().filter(user_id=user.pk).first()
    if erasure is not None and erasure.state in ERASURE_PENDING:
        if due_at < erasure.due_at and erasure.state == ErasureState.SCHEDULED:
            erasure.due_at = due_at
            erasure.save(update_fields=["due_at"])
    else:
        erasure = erasure or Erasure(user_id=user.pk)
        erasure.state, erasure.step = ErasureState.SCHEDULED, ErasureStep.FILES
        erasure.requested_at, erasure.requested_by, erasure.due_at = (
            timezone.now(),
            requested_by,
            due_at,
        )
        erasure.attempts, erasure.next_attempt_at, erasure.last_error = 0, timezone.now(), ""
        erasure.started_at = erasure.finished_at = erasure.lease_until = None
        erasure.save()
        user_deactivate_unchecked(user=user)
        session_revoke_all(user=user, reason="erasure")
        # An archive being made would only be deleted again.
        Export.objects.filter(user_id=user.pk, state__in=EXPORT_UNFINISHED).delete()
        entry_add(user_id=user.pk, action="user.erase_requested", details={"via": requested_by})
        emails.send_erasure_notice(to=user.email, due_at=due_at)
        transaction.on_commit(lambda: ERASURES.labels("requested").inc())
    if erasure.due_at <= timezone.now():
        transaction.on_commit(DUE.set)
    return erasure


class NotCancellable(Exception):
    """No erasure of the user is waiting: none was asked for, or it has started."""


@transaction.atomic
def erasure_cancel(*, user_id: int) -> Erasure:
    """For operators: a scheduled erasure is called off (the account stays deactivated:
    reactivating it is a separate decision). One that has started cannot be."""
    erasure = Erasure.objects.select_for_update().filter(user_id=user_id).first()
    if erasure is None or erasure.state != ErasureState.SCHEDULED or erasure.started_at:
        state = "started" if erasure and erasure.started_at else "not scheduled"
        raise NotCancellable(f"The erasure of user {user_id} is {state}")
    erasure.state = ErasureState.CANCELLED
    erasure.finished_at = timezone.now()
    erasure.save(update_fields=["state", "finished_at"])
    entry_add(user_id=user_id, action="user.erase_cancelled", details={})
    transaction.on_commit(lambda: ERASURES.labels("cancelled").inc())
    return erasure


def erasures_hasten(*, erasures: QuerySet[Erasure]) -> int:
    """Makes these scheduled erasures due now (the admin's "run now"); returns how many."""
    now = timezone.now()
    count = erasures.filter(state=ErasureState.SCHEDULED).update(due_at=now, next_attempt_at=now)
    DUE.set()
    return count


def erasure_claim(*, user_id: int | None = None) -> Erasure | None:
    """The next due erasure (or this user's, due or not), held by this runner."""
    now = timezone.now()
    with transaction.atomic():
        abandoned = Q(state=ErasureState.RUNNING, lease_until__lt=now)
        candidates = Erasure.objects.select_for_update(skip_locked=True)
        if user_id is not None:
            candidates = candidates.filter(Q(state=ErasureState.SCHEDULED) | abandoned)
            candidates = candidates.filter(user_id=user_id)
        else:
            candidates = candidates.filter(
                Q(state=ErasureState.SCHEDULED, due_at__lte=now, next_attempt_at__lte=now)
                | abandoned
            ).order_by("due_at")
        erasure = candidates.first()
        if erasure is None:
            return None
        erasure.state, erasure.lease_until = ErasureState.RUNNING, now + _lease()
        erasure.started_at = erasure.started_at or now
        erasure.attempts += 1
        erasure.save(update_fields=["state", "lease_until", "started_at", "attempts"])
    return erasure


def _erasure_save(erasure: Erasure, *fields: str) -> None:
    erasure.lease_until = timezone.now() + _lease()
    erasure.save(update_fields=[*fields, "lease_until"])


def erasure_run(erasure: Erasure) -> bool:
    """Takes a claimed erasure through its remaining steps; True once it is done. Storage
    failing puts it back to be tried again later (False)."""
    try:
        if erasure.step == ErasureStep.FILES:
            while deleted := files_erase_batch(user_id=erasure.user_id, limit=ERASE_BATCH):
                erasure.files_deleted += deleted
                _erasure_save(erasure, "files_deleted")
            erasure.step = ErasureStep.OBJECTS
            _erasure_save(erasure, "step")
        if erasure.step == ErasureStep.OBJECTS:
            erasure.objects_deleted += storage.delete_prefix(user_prefix(erasure.user_id))
            # Storage is done with: an error it gave an earlier attempt is over.
            erasure.step, erasure.last_error = ErasureStep.ROWS, ""
            _erasure_save(erasure, "objects_deleted", "step", "last_error")
    except storage.StorageError as exc:
        logger.warning(
            "Erasure of user %s: storage failed, retrying later: %s", erasure.user_id, exc
        )
        _retry_later(erasure, state=ErasureState.SCHEDULED, exc=exc)
        ERASURES.labels("retried").inc()
        return False
    return _erase_rows(erasure)


@transaction.atomic
def _erase_rows(erasure: Erasure) -> bool:
    """The last step, in one transaction: the audit trail pseudonymised, user.erased and
    the tombstone written (kafka_events), the counters forgotten and the user's row deleted,
    with every row that references it (Django follows each foreign key to the user)."""
    user = User.objects.select_for_update().filter(pk=erasure.user_id).first()
    if user is not None:
        if files_of_user(user_id=user.pk):
            # An upload committed after the files step (it held the row lock first): the
            # next pass deletes it.
            erasure.state, erasure.step = ErasureState.SCHEDULED, ErasureStep.FILES
            erasure.lease_until, erasure.next_attempt_at = None, timezone.now()
            erasure.save(update_fields=["state", "step", "lease_until", "next_attempt_at"])
            return False
        # Negative: no user has such an id, so a pseudonym never passes for one.
        audit_pseudonymise(user_id=user.pk, pseudonym=-1 - secrets.randbelow(2**62))
        account_counters_forget(
            user_id=user.pk, emails=[email for email in (user.email, user.pending_email) if email]
        )
        announce_erased(user.pk)
        user.delete()
    erasure.state, erasure.finished_at = ErasureState.DONE, timezone.now()
    erasure.lease_until, erasure.last_error = None, ""
    erasure.save(update_fields=["state", "finished_at", "lease_until", "last_error"])
    transaction.on_commit(lambda: ERASURES.labels("completed").inc())
    return True


def jobs_run_once() -> bool:
    """One pass of the runner: an export, the expired exports, an erasure. True if it found
    work (then the next pass follows at once)."""
    worked = False
    if (export := export_claim()) is not None:
        export_run(export)
        worked = True
    try:
        worked = bool(exports_expired_delete()) or worked
    except storage.StorageError as exc:
        logger.warning("Expired exports not deleted, storage failed: %s", exc)
    if (erasure := erasure_claim()) is not None:
        erasure_run(erasure)
        worked = True
    return worked
