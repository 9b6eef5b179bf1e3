"""Erasure (restapi.signals.announce_erased, in the transaction that deletes the user's
row): the user's sent outbox rows go, the unsent ones still go out in order, then
user.erased with the id alone, then a tombstone for the user's key."""

import json
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from kafka_events.models import OutboxEvent
from kafka_events.outbox import TOMBSTONE
from kafka_events.producer import publisher
from restapi.signals import announce, announce_erased
from tests.event_contract import problems
from tests.fixtures.kafka import Broker, consume
from users.models import User

pytestmark = pytest.mark.django_db


def publish_all() -> None:
    while publisher.publish_pending():
        pass


def outbox() -> list[dict[str, object]]:
    return [dict(row) for row in OutboxEvent.objects.order_by("id").values()]


def types(user: User) -> list[str]:
    rows = OutboxEvent.objects.filter(key=f"user-{user.pk}").order_by("id")
    return list(rows.values_list("event_type", flat=True))


def one_sent_one_unsent(user: User) -> None:
    announce(user, "user.updated", changes=["role"])
    OutboxEvent.objects.filter(key=f"user-{user.pk}").update(sent_at=timezone.now())
    announce(user, "user.verified")


@pytest.mark.django_db(transaction=True)
def test_an_erasure_sends_what_was_pending_then_user_erased_then_a_tombstone(
    user: User, other_user: User, kafka: str, kafka_broker: Broker
) -> None:
    key = f"user-{user.pk}"
    announce(user, "user.updated", changes=["role"])
    announce(other_user, "user.updated", changes=["role"])
    publish_all()
    [sent_before] = OutboxEvent.objects.filter(key=key).values_list("event_id", flat=True)
    announce(user, "user.logged_out", session_id=None)
    announce(user, "user.verified")
    announce(other_user, "user.logged_out", session_id=None)
    others = list(OutboxEvent.objects.filter(key=f"user-{other_user.pk}").order_by("id").values())

    with transaction.atomic():
        announce_erased(user.pk)

    # The sent row (it holds the email) is gone; the unsent ones go out before user.erased.
    rows = list(OutboxEvent.objects.filter(key=key).order_by("id"))
    assert [(row.event_type, row.sent_at) for row in rows] == [
        ("user.logged_out", None),
        ("user.verified", None),
        ("user.erased", None),
        (TOMBSTONE, None),
    ]
    assert rows[-1].topic == kafka and rows[-1].value is None
    others_now = OutboxEvent.objects.filter(key=f"user-{other_user.pk}").order_by("id")
    assert list(others_now.values()) == others

    publish_all()
    messages = consume(kafka_broker.address, kafka, count=5, where=lambda m: m["key"] == key)
    assert [m["headers"]["event_id"] for m in messages] == [
        str(sent_before),
        *(str(row.event_id) for row in rows),
    ]
    erased, tombstone = messages[3], messages[4]
    assert problems(erased["value"]) == []
    body = json.loads(erased["value"])
    assert (body["type"], body["user_id"], body["data"]) == (
        "user.erased",
        user.pk,
        {"user_id": user.pk},
    )
    assert erased["headers"] == {
        "event_id": body["id"],
        "event_type": "user.erased",
        "content-type": "application/json",
    }
    assert tombstone["value"] is None
    assert tombstone["headers"] == {"event_id": str(rows[-1].event_id)}


@pytest.mark.parametrize("switch", ["KAFKA_ENABLED", "KAFKA_PUBLISH_EVENTS"])
def test_with_events_off_an_erasure_writes_nothing_but_forgets_the_sent_rows(
    user: User, kafka: str, settings: Any, switch: str
) -> None:
    one_sent_one_unsent(user)
    before = outbox()
    setattr(settings, switch, False)
    with transaction.atomic():
        announce_erased(user.pk)
    assert outbox() == [row for row in before if row["sent_at"] is None]
    setattr(settings, switch, True)
    with transaction.atomic():
        announce_erased(user.pk)
    assert types(user) == ["user.verified", "user.erased", TOMBSTONE]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_erasure_writes_nothing(user: User, kafka: str) -> None:
    one_sent_one_unsent(user)
    before = outbox()
    with pytest.raises(RuntimeError), transaction.atomic():
        announce_erased(user.pk)
        raise RuntimeError("the user's row could not be deleted")
    assert outbox() == before
    with transaction.atomic():
        announce_erased(user.pk)
    assert types(user) == ["user.verified", "user.erased", TOMBSTONE]
