"""Writing to the outbox: the only way an event leaves the service."""

import json
import uuid
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kafka_events.contract import schema_version
from kafka_events.models import OutboxEvent
from kafka_events.payloads import erased_payload, utc_iso
from kafka_events.producer import publisher


def events_enabled() -> bool:
    return settings.KAFKA_ENABLED and settings.KAFKA_PUBLISH_EVENTS


def envelope(*, event_id: uuid.UUID, event_type: str, user_id: int, data: dict[str, Any]) -> str:
    """A user event's value: `data` as the type's schema (kafka_events/schemas/) says."""
    body = {
        "id": str(event_id),
        "type": event_type,
        "schema_version": schema_version(event_type),
        "occurred_at": utc_iso(timezone.now()),
        "user_id": user_id,
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), default=str)


def event_headers(event_id: uuid.UUID, event_type: str) -> list[list[str]]:
    return [
        ["event_id", str(event_id)],
        ["event_type", event_type],
        ["content-type", "application/json"],
    ]


def outbox_add(
    *,
    topic: str,
    key: str | None,
    event_type: str,
    value: str | None,
    headers: list[list[str]],
    event_id: uuid.UUID,
    wake: bool = True,
) -> OutboxEvent:
    row = OutboxEvent.objects.create(
        event_id=event_id,
        topic=topic,
        key=key,
        order_key=key or str(event_id),
        event_type=event_type,
        value=value,
        headers=headers,
    )
    if wake:
        # Publish as soon as the change is committed instead of at the next idle tick.
        transaction.on_commit(publisher.wake)
    return row


# Announced by an unauthenticated request that fails, for existing accounts only: waking
# the publisher would make those answers do more work than the same failure for an
# unknown account (an enumeration oracle by timing), so they wait for the next idle tick.
QUIET_EVENT_TYPES = {"user.login_failed"}


def user_event_add(*, user_id: int, event_type: str, data: dict[str, Any]) -> OutboxEvent:
    event_id = uuid.uuid4()
    return outbox_add(
        topic=settings.KAFKA_USER_EVENTS_TOPIC,
        key=f"user-{user_id}",
        event_type=event_type,
        value=envelope(event_id=event_id, event_type=event_type, user_id=user_id, data=data),
        headers=event_headers(event_id, event_type),
        event_id=event_id,
        wake=event_type not in QUIET_EVENT_TYPES,
    )


# One COPY for the batch: bulk_create's UNNEST quoted each JSON value into a text array in
# Python, and one INSERT per row (even pipelined) cost as much again as the COPY of users.
OUTBOX_COPY = (
    "COPY kafka_outbox (event_id, topic, key, order_key, event_type, value, headers, "
    "created_at, attempts, next_attempt_at, last_error) FROM STDIN"
)


def user_events_add(*, event_type: str, events: list[tuple[int, dict[str, Any]]]) -> None:
    """user_event_add for many users, (user_id, data) each, in one statement."""
    if not events:
        return
    now = timezone.now()
    topic = settings.KAFKA_USER_EVENTS_TOPIC
    with connection.cursor() as cursor, cursor.copy(OUTBOX_COPY) as copy:
        for user_id, data in events:
            event_id = uuid.uuid4()
            key = f"user-{user_id}"
            value = envelope(event_id=event_id, event_type=event_type, user_id=user_id, data=data)
            headers = json.dumps(event_headers(event_id, event_type))
            copy.write_row((event_id, topic, key, key, event_type, value, headers, now, 0, now, ""))
    transaction.on_commit(publisher.wake)


# The event_type of a tombstone row: a message with the user's key and no value, which
# tells a compacted topic to forget every earlier message of that key.
TOMBSTONE = "tombstone"


def user_sent_events_forget(*, user_id: int) -> None:
    """An erased user's sent rows: they hold the email and the rest of the UserShape until
    their purge, which runs only where the publisher does. The unsent ones stay, to go out
    in order before user.erased (a consumer learns what happened up to the erasure, then
    that it was erased)."""
    # By key alone: rows from before a change of KAFKA_USER_EVENTS_TOPIC hold the email too.
    # No index on key for this: erasures are rare, and the outbox keeps only
    # KAFKA_OUTBOX_RETENTION_HOURS of sent rows.
    OutboxEvent.objects.filter(key=f"user-{user_id}").exclude(sent_at=None).delete()


def user_erased_add(*, user_id: int) -> None:
    """An erased user, in the transaction that deletes their row: user.erased, then a
    tombstone for their key (rows of a key are published in id order, so it comes last)."""
    key = f"user-{user_id}"
    user_event_add(user_id=user_id, event_type="user.erased", data=erased_payload(user_id=user_id))
    event_id = uuid.uuid4()
    outbox_add(
        topic=settings.KAFKA_USER_EVENTS_TOPIC,
        key=key,
        event_type=TOMBSTONE,
        value=None,
        # event_id alone, for consumers that deduplicate on it; no event_type or
        # content-type, as there is no envelope: a consumer knows a tombstone by its null
        # value, which is also all a compacted topic may have left of the user.
        headers=[["event_id", str(event_id)]],
        event_id=event_id,
        wake=False,  # user.erased's commit wakes the publisher already
    )
