"""Writes on user files. The object is stored first and the row committed after it; if
anything fails in between, the object is deleted again, so neither is left alone."""

import logging
import uuid
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from restapi.exceptions import (
    IncompleteBody,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RequestTimeout,
    StorageUnavailable,
    TransfersBusy,
)
from userdata import storage
from userdata.metrics import UPLOAD_BYTES
from userdata.models import UserFile
from users.models import User

logger = logging.getLogger(__name__)


def user_prefix(user_id: int) -> str:
    """Where every object of the user is stored: their files and their exports."""
    folder = f"{user_id}/"
    return f"{settings.S3_DATA_PREFIX}/{folder}" if settings.S3_DATA_PREFIX else folder


def object_key(user_id: int) -> str:
    """Made by the server, never from the client's filename."""
    day = timezone.now().strftime("%Y/%m/%d")
    return f"{user_prefix(user_id)}{day}/{uuid.uuid4().hex}"


# A user's exports (privacy's archives) are kept beside their files, in this folder.
EXPORTS_FOLDER = "exports"


def export_key(user_id: int, export_id: uuid.UUID) -> str:
    return f"{user_prefix(user_id)}{EXPORTS_FOLDER}/{export_id}.zip"


def is_export_key(key: str) -> bool:
    """Whether the key is an export's, which has no file row (reconcile_storage)."""
    folder = key.removeprefix(f"{settings.S3_DATA_PREFIX}/") if settings.S3_DATA_PREFIX else key
    parts = folder.split("/")
    return len(parts) == 3 and parts[1] == EXPORTS_FOLDER


def _stored_bytes(owner: User) -> int:
    return UserFile.objects.filter(user=owner).aggregate(total=Sum("size_in_bytes"))["total"] or 0


def _check_quota(owner: User, adding: int) -> None:
    quota = settings.USER_DATA_QUOTA_BYTES
    if quota and _stored_bytes(owner) + adding > quota:
        raise QuotaExceeded()


def _discard(key: str) -> None:
    try:
        storage.delete(key)
    except storage.StorageError:
        # `manage.py reconcile_storage` finds and removes it later.
        logger.exception("Could not delete the orphaned object %s", key)


def file_upload(
    *,
    owner: User,
    body: BinaryIO,
    length: int,
    filename: str,
    content_type: str,
    data_type: str = "",
    encoding: str = "",
    comments: str = "",
) -> UserFile:
    if length > settings.USER_DATA_MAX_BYTES:
        raise PayloadTooLarge()
    _check_quota(owner, length)
    key = object_key(owner.pk)
    try:
        stored = storage.upload_stream(key, body, content_type=content_type, length=length)
    except storage.Busy as exc:
        raise TransfersBusy() from exc
    except storage.BodyStalled as exc:
        raise RequestTimeout() from exc
    except storage.BodyIncomplete as exc:
        raise IncompleteBody() from exc
    except storage.StorageError as exc:
        logger.error("Upload to storage failed: %s", exc)
        raise StorageUnavailable() from exc
    try:
        with transaction.atomic():
            # The owner's row lock makes the quota exact under concurrent uploads.
            User.objects.select_for_update().filter(pk=owner.pk).first()
            _check_quota(owner, stored.size)
            record = UserFile.objects.create(
                user=owner,
                filename=filename,
                data_type=data_type,
                encoding=encoding,
                comments=comments,
                size_in_bytes=stored.size,
                key=key,
                sloc=storage.backend().sloc(key),
                sha256=stored.sha256,
                content_type=content_type,
            )
    except BaseException:
        _discard(key)
        raise
    UPLOAD_BYTES.inc(stored.size)
    return record


@transaction.atomic
def file_update(
    *,
    record: UserFile,
    filename: str | None = None,
    data_type: str | None = None,
    comments: str | None = None,
    encoding: str | None = None,
) -> UserFile:
    """Writes only the fields that change, compared with the row as it is now (locked, so
    the answer and the event show every field as stored): a concurrent change to another
    field survives. Nothing to change: no write and no event."""
    current = UserFile.objects.select_for_update().filter(pk=record.pk).first()
    if current is None:
        raise NotFound()
    given = {
        "filename": filename,
        "data_type": data_type,
        "comments": comments,
        "encoding": encoding,
    }
    changes = {
        field: value
        for field, value in given.items()
        if value is not None and getattr(current, field) != value
    }
    if not changes:
        return current
    for field, value in changes.items():
        setattr(current, field, value)
    current.save(update_fields=[*changes, "updated_at"])
    return current


def file_delete(*, record: UserFile) -> None:
    """The row goes first: a file nobody can reach is better than a row with no file."""
    record.delete()
    _discard(record.key)


def file_download(*, record: UserFile, disposition: str) -> storage.Chunks | str:
    return object_download(
        key=record.key, disposition=disposition, content_type=record.content_type
    )


def object_download(*, key: str, disposition: str, content_type: str) -> storage.Chunks | str:
    """A stored object (a file, an export) for a response: a presigned URL when
    S3_PRESIGNED_DOWNLOADS is on and storage can make one; else the bytes, holding a
    transfer slot until the stream is closed."""
    if settings.S3_PRESIGNED_DOWNLOADS:
        url = storage.presigned_url(key, filename_header=disposition, content_type=content_type)
        if url is not None:
            return url
    try:
        return storage.download_chunks(key)
    except storage.Busy as exc:
        raise TransfersBusy() from exc
    except storage.StorageError as exc:
        raise StorageUnavailable() from exc


def files_without_object_delete(*, data_ids: list[int]) -> None:
    """Deletes the rows of files whose object is gone (reconcile_storage --delete)."""
    UserFile.objects.filter(pk__in=data_ids).delete()


def files_erase_batch(*, user_id: int, limit: int) -> int:
    """For an erasure: deletes up to `limit` of the user's files and returns how many.
    Objects go first, so that a crash in between leaves the rows to find them by (the next
    batch deletes them again, which is no error). The rows go without an event or an audit
    entry each (_raw_delete sends no post_delete): user.erased stands for all of them.
    Raises StorageError, and then deletes no row."""
    rows = list(
        UserFile.objects.filter(user_id=user_id).order_by("pk").values_list("pk", "key")[:limit]
    )
    if not rows:
        return 0
    storage.delete_keys([key for _, key in rows])
    UserFile.objects.filter(pk__in=[pk for pk, _ in rows])._raw_delete(UserFile.objects.db)
    return len(rows)
