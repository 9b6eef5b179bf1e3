"""What each event's `data` holds, built from the models.

The events' own contract (kafka_events/schemas/), apart from the API's serializers: a
change to an API response does not change what consumers receive. A field added or
changed here is a new schema version (kafka_events/contract.py)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from userdata.models import UserFile
from users.models import User


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional_time(moment: datetime | None) -> str | None:
    # None only for auth's stand-in user of an unknown address (user.login_failed), which
    # is never saved: its event is written and rolled back so that both cases take as long.
    return utc_iso(moment) if moment is not None else None


def user_payload(user: User) -> dict[str, Any]:
    """The UserShape: what every user.* event carries (and the extras of its type)."""
    return {
        "user_id": user.pk,
        "email": user.email,
        "state": int(user.state),
        "verified": int(user.verified),
        "role": str(user.role),
        "pending_email": user.pending_email,
        "password_change_required": bool(user.password_change_required),
        "created_at": _optional_time(user.created_at),
        "updated_at": _optional_time(user.updated_at),
    }


def file_payload(data: UserFile) -> dict[str, Any]:
    """The DataRecord: user.data.uploaded and user.data.updated."""
    return {
        "data_id": data.pk,
        "user_id": data.user_id,
        "filename": data.filename,
        "data_type": data.data_type,
        "size_in_bytes": data.size_in_bytes,
        "comments": data.comments,
        "encoding": data.encoding,
        "sloc": data.sloc,
        "sha256": data.sha256,
        "content_type": data.content_type,
        "created_at": utc_iso(data.created_at),
        "updated_at": utc_iso(data.updated_at),
    }


def deleted_file_payload(data: UserFile) -> dict[str, Any]:
    """user.data.deleted: enough to find what is gone."""
    return {"data_id": data.pk, "filename": data.filename, "sloc": data.sloc}


def erased_payload(*, user_id: int) -> dict[str, Any]:
    """user.erased: the id alone, as nothing else of the user is left (their row is being
    deleted for good)."""
    return {"user_id": user_id}


def user_read_payload(*, user_id: int) -> dict[str, Any]:
    return {"user_id": user_id}


def user_searched_payload(*, email: str, found: int) -> dict[str, Any]:
    return {"email": email, "found": found}


def data_searched_payload(*, found: int) -> dict[str, Any]:
    return {"found": found}


# The reads' builders, by type: announce_read's keyword arguments are their fields.
READ_PAYLOADS: dict[str, Callable[..., dict[str, Any]]] = {
    "user.read": user_read_payload,
    "user.searched": user_searched_payload,
    "user.data.searched": data_searched_payload,
}
