import mimetypes
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from restapi.exceptions import ApiError
from userdata import storage
from userdata.models import UserData
from userdata.serializers import DataOutput
from userdata.services import file_upload
from users.models import User


class Command(BaseCommand):
    help = "Operators: upload a local file for a user, or download a stored file to disk."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        upload = actions.add_parser("upload", help="store a local file for a user")
        upload.add_argument("--user-id", type=int, required=True)
        upload.add_argument("path", type=Path)
        upload.add_argument("--filename", help="defaults to the file's name")
        upload.add_argument("--data-type", default="")
        upload.add_argument("--comments", default="")
        download = actions.add_parser("download", help="write a stored file to disk")
        download.add_argument("--data-id", type=int, required=True)
        download.add_argument("path", type=Path)

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
        owner = User.objects.filter(pk=user_id).first()
        if owner is None:
            raise CommandError(f"No user {user_id}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        try:
            with path.open("rb") as body:
                record = file_upload(
                    owner=owner,
                    body=body,
                    length=path.stat().st_size,
                    filename=filename or path.name,
                    content_type=content_type,
                    data_type=data_type,
                    comments=comments,
                )
        except ApiError as exc:  # too large, over quota, storage down: a message, not a trace
            raise CommandError(str(exc.detail)) from exc
        self.stdout.write(str(dict(DataOutput(record).data)))

    def _download(self, *, data_id: int, path: Path, **_: Any) -> None:
        record = UserData.objects.filter(pk=data_id).first()
        if record is None:
            raise CommandError(f"No file {data_id}")
        storage.download_file(record.key, path)
        self.stdout.write(f"Wrote {record.size_in_bytes} bytes to {path}")
