"""What the users and auth apps announce. kafka_events turns each into one outbox row, in
the transaction of the change, so a rolled-back change announces nothing."""

from typing import Any

from django.dispatch import Signal

from users.models import User

# kwargs: user, event_type (e.g. "user.logged_in"), data (extra fields for the event)
user_event = Signal()
# kwargs: users, event_type: one event of that type for each user (a bulk change, the import)
users_event = Signal()
# Reads (user.read, user.searched, user.data.searched): published best effort, no outbox.
user_read = Signal()


def announce(user: User, event_type: str, **data: Any) -> None:
    user_event.send(sender=User, user=user, event_type=event_type, data=data)


def announce_each(users: list[User], event_type: str) -> None:
    """announce() for many users at once: their outbox rows are written in one statement."""
    users_event.send(sender=User, users=users, event_type=event_type)


def announce_read(user: User, event_type: str, **data: Any) -> None:
    user_read.send(sender=User, user=user, event_type=event_type, data=data)
