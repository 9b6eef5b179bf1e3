import time
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from auth.models import LoginThrottle, RateBucket, Session
from restapi.commands import ServiceCommand, non_negative_int
from users.models import OneTimeToken

# A throttle row or bucket untouched this long holds nothing a check still needs:
# the longest lockout is 15 minutes and every bucket refills within an hour.
IDLE_SECONDS = 86400
# Rows per DELETE: each batch is its own short statement, so a large backlog neither
# holds locks for long nor hides how far the purge has got.
BATCH_ROWS = 5000


class Command(ServiceCommand):
    help = (
        "Delete one-time tokens that can no longer be used, sessions that ended more than "
        "--session-retention-days ago, and idle brute-force counters. Safe to run any time "
        "(e.g. hourly from cron or a Kubernetes CronJob)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--session-retention-days",
            type=non_negative_int,
            default=30,
            metavar="DAYS",
            help="keep revoked and expired sessions this many days (for the sessions list)",
        )

    def handle(self, *args: Any, session_retention_days: int, **options: Any) -> None:
        now = timezone.now()
        ended_before = now - timedelta(days=session_retention_days)
        idle_since = time.time() - IDLE_SECONDS
        purges: list[tuple[str, QuerySet[Any]]] = [
            (
                "tokens",
                OneTimeToken.objects.filter(
                    Q(used_at__isnull=False)
                    | Q(cancelled_at__isnull=False)
                    | Q(expires_at__lte=now)
                ),
            ),
            (
                "sessions",
                Session.objects.filter(
                    Q(revoked_at__lt=ended_before) | Q(expires_at__lt=ended_before)
                ),
            ),
            ("login counters", LoginThrottle.objects.filter(next_attempt_at__lt=idle_since)),
            ("rate buckets", RateBucket.objects.filter(updated_at__lt=idle_since)),
        ]
        counts = [f"{self._purge(what, rows)} {what}" for what, rows in purges]
        self.stdout.write(f"Deleted {', '.join(counts)}")

    def _purge(self, what: str, rows: "QuerySet[Model]") -> int:
        deleted = 0
        with self.progress(f"Deleting {what}") as progress:
            while True:
                batch = rows.model._default_manager.filter(pk__in=rows.values("pk")[:BATCH_ROWS])
                count, _ = batch.delete()
                if not count:
                    return deleted
                deleted += count
                progress.add(count)
