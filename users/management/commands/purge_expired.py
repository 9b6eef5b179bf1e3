import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q
from django.utils import timezone

from auth.models import LoginThrottle, RateBucket, Session
from users.models import OneTimeToken

# A throttle row or bucket untouched this long holds nothing a check still needs:
# the longest lockout is 15 minutes and every bucket refills within an hour.
IDLE_SECONDS = 86400


class Command(BaseCommand):
    help = (
        "Delete one-time tokens that can no longer be used, sessions that ended more than "
        "--session-retention-days ago, and idle brute-force counters. Safe to run any time "
        "(e.g. hourly from cron or a Kubernetes CronJob)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session-retention-days", type=int, default=30)

    def handle(self, *args: Any, session_retention_days: int, **options: Any) -> None:
        now = timezone.now()
        tokens, _ = OneTimeToken.objects.filter(
            Q(used_at__isnull=False) | Q(cancelled_at__isnull=False) | Q(expires_at__lte=now)
        ).delete()
        ended_before = now - timedelta(days=session_retention_days)
        sessions, _ = Session.objects.filter(
            Q(revoked_at__lt=ended_before) | Q(expires_at__lt=ended_before)
        ).delete()
        idle_since = time.time() - IDLE_SECONDS
        throttles, _ = LoginThrottle.objects.filter(next_attempt_at__lt=idle_since).delete()
        buckets, _ = RateBucket.objects.filter(updated_at__lt=idle_since).delete()
        self.stdout.write(
            f"Deleted {tokens} tokens, {sessions} sessions, {throttles} login counters, "
            f"{buckets} rate buckets"
        )
