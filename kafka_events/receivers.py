"""Signal receivers: each announced change becomes one outbox row in its transaction."""

import uuid
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from kafka_events.outbox import (
    envelope,
    event_headers,
    events_enabled,
    user_event_add,
    user_events_add,
)
from kafka_events.producer import publisher
from restapi.signals import user_event, user_read, users_event
from userdata.models import UserData
from userdata.serializers import DataOutput
from users.models import User
from users.serializers import UserOutput


@receiver(user_event, sender=User)
def on_user_event(
    sender: type, user: User, event_type: str, data: dict[str, Any], **kwargs: Any
) -> None:
    if events_enabled():
        user_event_add(
            user_id=user.pk, event_type=event_type, data={**UserOutput(user).data, **data}
        )


@receiver(users_event, sender=User)
def on_users_event(sender: type, users: list[User], event_type: str, **kwargs: Any) -> None:
    if events_enabled():
        # many=True builds the serializer's fields once, not once per user.
        shapes = UserOutput(users, many=True).data  # type: ignore[arg-type]
        user_events_add(
            event_type=event_type,
            events=[(user.pk, dict(shape)) for user, shape in zip(users, shapes, strict=True)],
        )


@receiver(post_save, sender=UserData)
def on_file_saved(sender: type, instance: UserData, created: bool, **kwargs: Any) -> None:
    if events_enabled():
        event_type = "user.data.uploaded" if created else "user.data.updated"
        user_event_add(
            user_id=instance.user_id, event_type=event_type, data=dict(DataOutput(instance).data)
        )


@receiver(post_delete, sender=UserData)
def on_file_deleted(sender: type, instance: UserData, **kwargs: Any) -> None:
    if events_enabled():
        data = {"data_id": instance.pk, "filename": instance.filename, "sloc": instance.sloc}
        user_event_add(user_id=instance.user_id, event_type="user.data.deleted", data=data)


@receiver(user_read, sender=User)
def on_user_read(
    sender: type, user: User, event_type: str, data: dict[str, Any], **kwargs: Any
) -> None:
    if events_enabled() and settings.KAFKA_PUBLISH_READ_EVENTS:
        event_id = uuid.uuid4()
        publisher.publish_best_effort(
            topic=settings.KAFKA_USER_EVENTS_TOPIC,
            key=f"user-{user.pk}",
            value=envelope(event_id=event_id, event_type=event_type, user_id=user.pk, data=data),
            headers=event_headers(event_id, event_type),
        )
