from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from userdata import storage
from userdata.models import UserData


class Command(BaseCommand):
    help = (
        "Find files and rows that lost each other: objects under S3_DATA_PREFIX with no row "
        "(a crash between storing and committing), rows whose object is gone, and incomplete "
        "multipart uploads. Reports them; --delete removes them. Objects younger than "
        "--grace-minutes are left alone: their upload may still be committing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true")
        parser.add_argument("--grace-minutes", type=int, default=60)

    def handle(self, *args: Any, delete: bool, grace_minutes: int, **options: Any) -> None:
        backend = storage.backend()
        prefix = settings.S3_DATA_PREFIX
        cutoff = timezone.now() - timedelta(minutes=grace_minutes)
        stored = dict(backend.keys(prefix))
        known = set(UserData.objects.values_list("key", flat=True))
        orphan_objects = [
            k for k, modified in stored.items() if k not in known and modified < cutoff
        ]
        missing = [
            record
            for record in UserData.objects.filter(created_at__lt=cutoff).only("pk", "key")
            if record.key not in stored
        ]
        uploads = [
            (k, u) for k, u, started in backend.incomplete_uploads(prefix) if started < cutoff
        ]
        verb = "Deleted" if delete else "Found"
        for key in orphan_objects:
            self.stdout.write(f"{verb} object without a row: {key}")
            if delete:
                backend.delete(key)
        for record in missing:
            self.stdout.write(f"{verb} row without an object: data_id {record.pk} ({record.key})")
        if delete:
            UserData.objects.filter(pk__in=[record.pk for record in missing]).delete()
        for key, upload_id in uploads:
            self.stdout.write(f"{verb} incomplete upload: {key}")
            if delete:
                backend.abort_upload(key, upload_id)
        self.stdout.write(
            f"{len(orphan_objects)} orphan objects, {len(missing)} rows without objects, "
            f"{len(uploads)} incomplete uploads"
        )
