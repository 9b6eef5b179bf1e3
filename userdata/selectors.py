"""Reads on user files: one access path, the same 404 for "absent" and "not yours"."""

from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet

from restapi.exceptions import Forbidden, NotFound
from restapi.pagination import MAX_DB_ID, Page, page_of
from restapi.signals import announce_read
from userdata.models import UserFile
from users.models import User
from users.selectors import user_get_for_actor


def file_get_for_owner(*, actor: User, data_id: int) -> UserFile:
    if not 0 < data_id <= MAX_DB_ID:
        raise NotFound()
    files = UserFile.objects.all() if actor.is_admin else UserFile.objects.filter(user=actor)
    try:
        return files.get(pk=data_id)
    except UserFile.DoesNotExist as exc:
        raise NotFound() from exc


def owner_for_upload(*, actor: User, user_id: int | None) -> User:
    """The caller, or (admins only) the user named by the `user-id` header."""
    if user_id is None or user_id == actor.pk:
        return actor
    if not actor.is_admin:
        raise Forbidden(detail="You can only upload your own files.")
    return user_get_for_actor(actor=actor, user_id=user_id)


def file_search(
    *,
    actor: User,
    user_id: int | None = None,
    data_id: int | None = None,
    filename: str | None = None,
    data_type: str | None = None,
    comments: str | None = None,
    encoding: str | None = None,
    above_bytes: int | None = None,
    below_bytes: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[UserFile]:
    if user_id is not None and user_id != actor.pk and not actor.is_admin:
        raise Forbidden(detail="You can only search your own files.")
    files: QuerySet[UserFile] = UserFile.objects.filter(user_id=user_id or actor.pk)
    if data_id is not None:
        files = files.filter(pk=data_id)
    for field, text in (
        ("filename", filename),
        ("data_type", data_type),
        ("comments", comments),
        ("encoding", encoding),
    ):
        if text:
            files = files.filter(**{f"{field}__icontains": text})
    if above_bytes is not None:
        files = files.filter(size_in_bytes__gt=above_bytes)
    if below_bytes is not None:
        files = files.filter(size_in_bytes__lt=below_bytes)
    page = page_of(files, limit=limit, cursor=cursor)
    announce_read(actor, "user.data.searched", found=len(page.items))
    return page


def file_keys() -> Iterator[str]:
    """Every file's storage key, streamed (for reconcile_storage)."""
    return UserFile.objects.values_list("key", flat=True).iterator(chunk_size=10_000)


def files_outside_prefix_count(*, prefix: str) -> int:
    """Files whose object is outside this prefix (imported from the Rust service)."""
    return UserFile.objects.exclude(key__startswith=prefix).count() if prefix else 0


def files_stored_before(*, cutoff: datetime, prefix: str) -> Iterator[UserFile]:
    """Files made before the cutoff whose object is under the prefix: their id and key."""
    rows = UserFile.objects.filter(created_at__lt=cutoff, key__startswith=prefix)
    return rows.only("pk", "key").iterator(chunk_size=10_000)


def files_of_user(*, user_id: int) -> list[UserFile]:
    """Every file of the user, oldest first (an export)."""
    return list(UserFile.objects.filter(user_id=user_id).order_by("pk"))


def file_get(*, data_id: int) -> UserFile | None:
    """For operators (manage.py): any file by id, no actor check."""
    return UserFile.objects.filter(pk=data_id).first()
