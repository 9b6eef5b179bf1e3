import json
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from kafka_events.models import OutboxEvent
from kafka_events.outbox import event_headers, outbox_add
from kafka_events.producer import publisher
from restapi.exceptions import EventsDisabled

# The headers of the service's own events: a one-off message must not pass for one (on
# the user-events topic, a consumer would take it for a real user event).
RESERVED_HEADERS = frozenset(name for name, _ in event_headers(uuid.UUID(int=0), ""))


def allowed_topics() -> set[str]:
    return {*settings.KAFKA_TOPICS, settings.KAFKA_USER_EVENTS_TOPIC}


@transaction.atomic
def message_publish(
    *, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
) -> uuid.UUID:
    """A one-off message, through the outbox like every event: durable, at least once.

    Invalid input is refused first (400), then a service that has Kafka off (409)."""
    errors = {}
    if topic not in allowed_topics():
        errors["topic"] = [f"Not one of the allowed topics: {sorted(allowed_topics())}."]
    reserved = sorted(name for name in headers or {} if name.lower() in RESERVED_HEADERS)
    if reserved:
        errors["headers"] = [f"Reserved for the service's own events: {', '.join(reserved)}."]
    if errors:
        raise ValidationError(errors)
    if not settings.KAFKA_ENABLED:
        raise EventsDisabled()
    event_id = uuid.uuid4()
    outbox_add(
        topic=topic,
        key=key,
        event_type="message",
        value=value if isinstance(value, str) else json.dumps(value, separators=(",", ":")),
        headers=[["event_id", str(event_id)], *([name, v] for name, v in (headers or {}).items())],
        event_id=event_id,
    )
    return event_id


def outbox_retry_now(rows: QuerySet[OutboxEvent]) -> int:
    """Makes the unsent ones of these rows due now and wakes the publisher (the admin's
    "retry now"); returns how many."""
    count = rows.filter(sent_at=None).update(next_attempt_at=timezone.now())
    publisher.wake()
    return count
