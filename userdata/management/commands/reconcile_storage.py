from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from restapi.commands import EXIT_UNAVAILABLE, ServiceCommand, non_negative_int
from userdata import storage
from userdata.selectors import file_keys, files_outside_prefix_count, files_stored_before
from userdata.services import files_without_object_delete, is_export_key

# What the backend raises when storage fails: this command calls it directly (listing,
# aborting), where userdata.storage's own functions would turn these into StorageError.
STORAGE_FAILURES = (storage.StorageError, BotoCoreError, ClientError, OSError)

Item = TypeVar("Item")


class Command(ServiceCommand):
    help = (
        "Find files and rows that lost each other: objects under S3_DATA_PREFIX with no row "
        "(a crash between storing and committing), rows whose object is gone, and incomplete "
        "multipart uploads. Reports them; --delete removes them. Objects younger than "
        "--grace-minutes are left alone: their upload may still be committing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--delete", action="store_true", help="remove what it finds (else only report it)"
        )
        parser.add_argument(
            "--grace-minutes",
            type=non_negative_int,
            default=60,
            metavar="MINUTES",
            help="leave objects, rows and uploads younger than this alone",
        )

    def handle(self, *args: Any, delete: bool, grace_minutes: int, **options: Any) -> None:
        try:
            self._reconcile(delete=delete, grace_minutes=grace_minutes)
        except STORAGE_FAILURES as exc:
            where = storage.backend().sloc(settings.S3_DATA_PREFIX)
            raise CommandError(
                f"Storage failed ({where}): {' '.join(str(exc).split())}",
                returncode=EXIT_UNAVAILABLE,
            ) from exc

    def _counted(self, what: str, items: Iterator[Item]) -> Iterator[Item]:
        with self.progress(what) as progress:
            for item in items:
                progress.add()
                yield item

    def _reconcile(self, *, delete: bool, grace_minutes: int) -> None:
        backend = storage.backend()
        prefix = settings.S3_DATA_PREFIX
        cutoff = timezone.now() - timedelta(minutes=grace_minutes)
        stored = dict(self._counted("Listing stored objects", backend.keys(prefix)))
        known = set(self._counted("Reading file rows", file_keys()))
        # Exports have no file row: their own expiry deletes them (privacy).
        orphan_objects = [
            k
            for k, modified in stored.items()
            if k not in known and modified < cutoff and not is_export_key(k)
        ]
        # Only rows whose object would be in that listing: a file imported from the Rust
        # service keeps its object where that service put it, outside the prefix, and
        # would otherwise be taken for a row whose object is gone (and deleted).
        elsewhere = files_outside_prefix_count(prefix=prefix)
        old_rows = files_stored_before(cutoff=cutoff, prefix=prefix)
        missing = [
            record
            for record in self._counted("Checking rows", old_rows)
            if record.key not in stored
        ]
        uploads = [
            (k, u)
            for k, u, started in self._counted(
                "Listing incomplete uploads", backend.incomplete_uploads(prefix)
            )
            if started < cutoff
        ]
        verb = "Deleted" if delete else "Found"
        with self.progress("Objects without a row", total=len(orphan_objects)) as progress:
            for key in orphan_objects:
                if delete:
                    backend.delete(key)
                self.stdout.write(f"{verb} object without a row: {key}")
                progress.add()
        for record in missing:
            self.stdout.write(f"{verb} row without an object: data_id {record.pk} ({record.key})")
        if delete:
            files_without_object_delete(data_ids=[record.pk for record in missing])
        with self.progress("Incomplete uploads", total=len(uploads)) as progress:
            for key, upload_id in uploads:
                if delete:
                    backend.abort_upload(key, upload_id)
                self.stdout.write(f"{verb} incomplete upload: {key}")
                progress.add()
        self.stdout.write(
            f"{verb} {len(orphan_objects)} objects without a row, {len(missing)} rows without "
            f"an object, {len(uploads)} incomplete uploads (of {len(stored)} objects and "
            f"{len(known)} rows; grace {grace_minutes} min)"
        )
        if elsewhere:
            self.stdout.write(
                f"Not checked: {elsewhere} rows whose object is outside S3_DATA_PREFIX "
                "(imported from the Rust service; import_seed --hash-files finds those whose "
                "object is gone)"
            )
