"""The export archive: a zip of everything the service holds about one user.

    profile.json   the account (UserShape), its second factors (never a secret)
    sessions.json  every session still kept, ended ones too
    files.json     the file records (DataRecord), each with its `path` in the archive
    audit.json     the audit entries about the user, newest first
    files/…        the files' bytes, as stored

Written to a stream that need not seek (the pipe into storage), so each entry carries a
data descriptor; the files are stored uncompressed (they are the user's bytes, often
compressed already) and streamed from storage a chunk at a time, never held whole.
"""

import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from django.utils import timezone

from audit.models import AuditEntry
from audit.serializers import AuditEntryOutput
from auth.models import Session
from auth.serializers import SessionOutput
from mfa import selectors as mfa_selectors
from mfa.serializers import PasskeyOutput
from restapi.serializing import shaped
from userdata import storage
from userdata.models import UserFile
from userdata.serializers import DataOutput
from users.models import User
from users.serializers import UserOutput

# Rows read from the database at a time, for the long lists.
ROWS_PER_READ = 1000

# Called as the files go into the archive: (files done, bytes done).
Progress = Callable[[int, int], None]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str).encode()


def _write_json(archive: zipfile.ZipFile, name: str, value: Any) -> None:
    archive.writestr(_info(name, compress=True), _json_bytes(value))


def _write_json_list(archive: zipfile.ZipFile, name: str, items: Iterable[Any]) -> None:
    """A JSON array written an item at a time (an audit trail may be long)."""
    with archive.open(_info(name, compress=True), "w") as entry:
        entry.write(b"[")
        for number, item in enumerate(items):
            entry.write(b",\n" if number else b"\n")
            entry.write(_json_bytes(item))
        entry.write(b"\n]\n")


def _info(
    name: str, *, compress: bool, size: int = 0, when: datetime | None = None
) -> zipfile.ZipInfo:
    moment = (when or timezone.now()).astimezone(UTC)
    info = zipfile.ZipInfo(name, moment.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    # The size is known before the bytes: zipfile then chooses ZIP64 where it is needed.
    info.file_size = size
    info.external_attr = 0o600 << 16
    return info


def _safe_name(filename: str) -> str:
    """The file's name as a single harmless path part that every system can extract: no
    folder, no "..", no control character, none that Windows refuses."""
    name = re.sub(r'[\x00-\x1f\x7f/\\:<>"|?*]', "_", filename).strip(" .")
    return name[:200] or "file"


def file_path(record: UserFile) -> str:
    """Where a file is in the archive; its id keeps two files of one name apart."""
    return f"files/{record.pk}-{_safe_name(record.filename)}"


def profile(user: User) -> dict[str, Any]:
    factors = mfa_selectors.factors_of(user=user)
    passkeys = mfa_selectors.passkeys_of(user=user)
    return {
        "exported_at": timezone.now(),
        "user": {**shaped(UserOutput, user), "imported_at": user.imported_at},
        "second_factors": {
            "methods": factors.methods,
            "passkeys": [shaped(PasskeyOutput, passkey) for passkey in passkeys],
            "recovery_codes_left": factors.recovery_codes_left,
        },
    }


def _sessions(user: User) -> Iterator[dict[str, Any]]:
    sessions = Session.objects.filter(user_id=user.pk).order_by("-created_at")
    for session in sessions.iterator(chunk_size=ROWS_PER_READ):
        shown = dict(SessionOutput(session, context={"current_session": None}).data)
        del shown["current"]
        yield {
            **shown,
            "revoked_at": session.revoked_at,
            "revoked_reason": session.revoked_reason,
            "amr": session.amr,
            "auth_time": session.auth_time,
        }


def _audit(user: User) -> Iterator[dict[str, Any]]:
    entries = AuditEntry.objects.filter(subject_id=user.pk).order_by("-id")
    for entry in entries.iterator(chunk_size=ROWS_PER_READ):
        yield shaped(AuditEntryOutput, entry)


def archive_write(out: BinaryIO, *, user: User, files: list[UserFile], progress: Progress) -> None:
    """Writes the archive of `user` (with these files) to `out`. Raises StorageError if a
    file cannot be read; a file whose object is gone is listed with `path: null`."""
    with zipfile.ZipFile(out, "w") as archive:
        _write_json(archive, "profile.json", profile(user))
        _write_json_list(archive, "sessions.json", _sessions(user))
        bytes_done = 0
        records = []
        for files_done, record in enumerate(files):
            path: str | None = file_path(record)
            try:
                with storage.object_chunks(record.key) as chunks:
                    info = _info(
                        file_path(record),
                        compress=False,
                        size=record.size_in_bytes,
                        when=record.created_at,
                    )
                    with archive.open(info, "w") as entry:
                        for data in chunks:
                            entry.write(data)
                            bytes_done += len(data)
                            progress(files_done, bytes_done)
            except storage.Missing:
                path = None
            progress(files_done + 1, bytes_done)
            records.append({**shaped(DataOutput, record), "path": path})
        _write_json(archive, "files.json", records)
        _write_json_list(archive, "audit.json", _audit(user))
