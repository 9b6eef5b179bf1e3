import json
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from rest_framework.exceptions import ValidationError

from kafka_events.outbox import outbox_add


def allowed_topics() -> set[str]:
    return {*settings.KAFKA_TOPICS, settings.KAFKA_USER_EVENTS_TOPIC}


@transaction.atomic
def message_publish(
    *, topic: str, value: Any, key: str | None = None, headers: dict[str, str] | None = None
) -> uuid.UUID:
    """A one-off message, through the outbox like every event: durable, at least once."""
    if topic not in allowed_topics():
        raise ValidationError(
            {"topic": [f"Not one of the allowed topics: {sorted(allowed_topics())}."]}
        )
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
