import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.utils import timezone

from audit.services import audit_purge
from auth.services import (
    login_counters_idle_purge,
    rate_buckets_idle_purge,
    sessions_ended_purge,
)
from mfa.services import challenges_spent_purge
from restapi.commands import ServiceCommand, non_negative_int
from users.services import one_time_tokens_spent_purge

# A throttle row or bucket untouched this long holds nothing a check still needs:
# the longest lockout is 15 minutes and every bucket refills within an hour.
IDLE_SECONDS = 86400


class Command(ServiceCommand):
    help = (
        "Delete one-time tokens and second-factor challenges that can no longer be used, "
        "sessions that ended more than "
        "--session-retention-days ago, idle brute-force counters, and audit entries older "
        "than AUDIT_RETENTION_DAYS. Safe to run any time (e.g. hourly from cron or a "
        "Kubernetes CronJob)."
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
        ended_before = timezone.now() - timedelta(days=session_retention_days)
        idle_since = time.time() - IDLE_SECONDS
        audit_before = timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
        purges: list[tuple[str, Iterator[int]]] = [
            ("tokens", one_time_tokens_spent_purge()),
            ("second-factor challenges", challenges_spent_purge()),
            ("sessions", sessions_ended_purge(ended_before=ended_before)),
            ("login counters", login_counters_idle_purge(idle_since=idle_since)),
            ("rate buckets", rate_buckets_idle_purge(idle_since=idle_since)),
            ("audit entries", audit_purge(occurred_before=audit_before)),
        ]
        counts = [f"{self._purge(what, batches)} {what}" for what, batches in purges]
        self.stdout.write(f"Deleted {', '.join(counts)}")

    def _purge(self, what: str, batches: Iterator[int]) -> int:
        deleted = 0
        with self.progress(f"Deleting {what}") as progress:
            for count in batches:
                deleted += count
                progress.add(count)
        return deleted
