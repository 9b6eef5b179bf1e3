"""What the apps announce about users, for what a model's own post_save cannot tell (a
login, a password change, a read). They are defined here, below every app, so that any
app can announce; kafka_events turns each into one outbox row, and audit each user event
into one audit entry, in the transaction of the change, so a rolled-back change announces
nothing. Announcements are made from services
(and selectors, for reads), never from views."""

from typing import Any

from django.db.models import Model
from django.dispatch import Signal

# kwargs: user, event_type (e.g. "user.logged_in"), data (extra fields for the event)
user_event = Signal()
# kwargs: users, event_type: one event of that type for each user (a bulk change, the import)
users_event = Signal()
# Reads (user.read, user.searched, user.data.searched): published best effort, no outbox.
user_read = Signal()
# kwargs: user_id, action, details. For the audit trail only (the audit app records it),
# for what is security-relevant but no user event: an app below audit tells it this way.
audited = Signal()
# kwargs: user_id. Sent in the transaction that deletes an erased user's row (privacy's
# erasure): kafka_events publishes user.erased and a tombstone for the user's key there.
user_erased = Signal()


def announce(user: Model, event_type: str, **data: Any) -> None:
    user_event.send(sender=type(user), user=user, event_type=event_type, data=data)


def announce_each(users: list[Any], event_type: str) -> None:
    """announce() for many users at once: their outbox rows are written in one statement."""
    if users:
        users_event.send(sender=type(users[0]), users=users, event_type=event_type)


def announce_read(user: Model, event_type: str, **data: Any) -> None:
    user_read.send(sender=type(user), user=user, event_type=event_type, data=data)


def audit(user_id: int, action: str, **details: Any) -> None:
    """An audit entry about this user (e.g. "session.revoked"), in the current transaction.
    Every user event is audited already: this is for what announces none."""
    audited.send(sender=None, user_id=user_id, action=action, details=details)


def announce_erased(user_id: int) -> None:
    """The user's row is being deleted for good: only the id is left to announce."""
    user_erased.send(sender=None, user_id=user_id)
