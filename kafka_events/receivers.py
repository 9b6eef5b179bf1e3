"""Signal receivers: each announced change becomes one outbox row in its transaction (an
erasure two: user.erased and its key's tombstone).

A file's changes are its model's post_save and post_delete; what is not a save of one
row comes from restapi.signals (announce, announce_each, announce_read, announce_erased).
Every `data` is built by kafka_events.payloads, the events' own contract."""

import uuid
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from kafka_events.outbox import (
    envelope,
    event_headers,
    events_enabled,
    user_erased_add,
    user_event_add,
    user_events_add,
    user_sent_events_forget,
)
from kafka_events.payloads import (
    READ_PAYLOADS,
    deleted_file_payload,
    file_payload,
    user_payload,
)
from kafka_events.producer import publisher
from restapi.signals import user_erased, user_event, user_read, users_event
from userdata.models import UserFile
from users.models import User


@receiver(user_event, sender=User)
def on_user_event(
    sender: type, user: User, event_type: str, data: dict[str, Any], **kwargs: Any
) -> None:
    if events_enabled():
        user_event_add(user_id=user.pk, event_type=event_type, data={**user_payload(user), **data})


@receiver(users_event, sender=User)
def on_users_event(sender: type, users: list[User], event_type: str, **kwargs: Any) -> None:
    if events_enabled():
        user_events_add(event_type=event_type, events=[(u.pk, user_payload(u)) for u in users])


@receiver(user_erased)
def on_user_erased(sender: None, user_id: int, **kwargs: Any) -> None:
    # With events off too: rows sent while they were on still hold the email.
    user_sent_events_forget(user_id=user_id)
    if events_enabled():
        user_erased_add(user_id=user_id)


@receiver(post_save, sender=UserFile)
def on_file_saved(sender: type, instance: UserFile, created: bool, **kwargs: Any) -> None:
    if events_enabled():
        event_type = "user.data.uploaded" if created else "user.data.updated"
        user_event_add(user_id=instance.user_id, event_type=event_type, data=file_payload(instance))


@receiver(post_delete, sender=UserFile)
def on_file_deleted(sender: type, instance: UserFile, **kwargs: Any) -> None:
    if events_enabled():
        user_event_add(
            user_id=instance.user_id,
            event_type="user.data.deleted",
            data=deleted_file_payload(instance),
        )


@receiver(user_read, sender=User)
def on_user_read(
    sender: type, user: User, event_type: str, data: dict[str, Any], **kwargs: Any
) -> None:
    if events_enabled() and settings.KAFKA_PUBLISH_READ_EVENTS:
        event_id = uuid.uuid4()
        body = READ_PAYLOADS[event_type](**data)
        publisher.publish_best_effort(
            topic=settings.KAFKA_USER_EVENTS_TOPIC,
            key=f"user-{user.pk}",
            value=envelope(event_id=event_id, event_type=event_type, user_id=user.pk, data=body),
            headers=event_headers(event_id, event_type),
        )
