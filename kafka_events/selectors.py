from dataclasses import dataclass

from django.db.models import Count, Min
from django.utils import timezone

from kafka_events.models import OutboxEvent


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_age_seconds: float


def outbox_backlog() -> Backlog:
    """How many outbox rows wait for delivery, and how long the oldest has waited."""
    backlog = OutboxEvent.objects.filter(sent_at=None).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
    oldest = backlog["oldest"]
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return Backlog(pending=backlog["count"], oldest_age_seconds=age)
