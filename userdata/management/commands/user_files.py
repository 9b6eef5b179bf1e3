import mimetypes
import os
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from restapi.commands import EXIT_BAD_INPUT, EXIT_UNAVAILABLE, ServiceCommand, positive_int
from userdata import storage
from userdata.selectors import file_get
from userdata.serializers import UploadHeaders
from userdata.services import file_upload
from users.selectors import user_get


class Command(ServiceCommand):
    help = "Operators: upload a local file for a user, or download a stored file to disk."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        formatter = parser.formatter_class
        upload = actions.add_parser(
            "upload",
            help="store a local file for a user (checked as the API's upload)",
            formatter_class=formatter,
        )
        upload.add_argument(
            "--user-id", type=positive_int, required=True, metavar="ID", help="the owner"
        )
        upload.add_argument("path", type=Path, help="the local file to store")
        upload.add_argument("--filename", help="the name it is stored under (default: its own)")
        upload.add_argument("--data-type", default="", help="the data_type metadata")
        upload.add_argument("--comments", default="", help="the comments metadata")
        download = actions.add_parser(
            "download", help="write a stored file to disk", formatter_class=formatter
        )
        download.add_argument(
            "--data-id", type=positive_int, required=True, metavar="ID", help="the file"
        )
        download.add_argument("path", type=Path, help="where to write it")
        download.add_argument("--force", action="store_true", help="replace an existing file")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "upload":
            self._upload(**options)
        else:
            self._download(**options)

    def _upload(
        self,
        *,
        user_id: int,
        path: Path,
        filename: str | None,
        data_type: str,
        comments: str,
        **_: Any,
    ) -> None:
        owner = user_get(user_id=user_id)
        if owner is None:
            raise CommandError(f"No user {user_id}")
        if not path.is_file():
            raise CommandError(f"{path} is not a file", returncode=EXIT_BAD_INPUT)
        length = path.stat().st_size
        if not length:
            raise CommandError(f"{path} is empty", returncode=EXIT_BAD_INPUT)
        metadata = UploadHeaders(
            data={
                "filename": filename or path.name,
                "data_type": data_type,
                "comments": comments,
                "content_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            }
        )
        metadata.is_valid(raise_exception=True)
        with path.open("rb") as body:
            record = file_upload(owner=owner, body=body, length=length, **metadata.validated_data)
        self.stdout.write(
            f"Stored {path} ({record.size_in_bytes} bytes, sha256 {record.sha256}) as data_id "
            f"{record.pk} of user {owner.pk}"
        )

    def _download(self, *, data_id: int, path: Path, force: bool, **_: Any) -> None:
        record = file_get(data_id=data_id)
        if record is None:
            raise CommandError(f"No file {data_id}")
        if path.exists() and not force:
            raise CommandError(f"{path} exists; pass --force to replace it")
        # Written aside and renamed: a failed download leaves no partial file behind.
        partial = path.with_name(f".{path.name}.partial")
        try:
            storage.download_file(record.key, partial)
            os.replace(partial, path)
        except storage.StorageError as exc:
            raise CommandError(
                f"Storage failed: {' '.join(str(exc).split())}", returncode=EXIT_UNAVAILABLE
            ) from exc
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(f"Wrote {record.size_in_bytes} bytes of data_id {data_id} to {path}")
