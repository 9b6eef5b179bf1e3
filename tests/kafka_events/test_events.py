import json
import threading
import time
import uuid

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY

from kafka_events.models import OutboxEvent
from kafka_events.outbox import TOMBSTONE, outbox_add
from kafka_events.producer import Publisher, _claim, publisher
from restapi.signals import announce
from tests.fixtures.kafka import Broker, consume
from tests.helpers import PASSWORD, assert_error, client_for, login
from users.models import User

pytestmark = pytest.mark.django_db

ALL_TYPES = {
    "user.created",
    "user.logged_in",
    "user.login_failed",
    "user.updated",
    "user.email_changed",
    "user.password_changed",
    "user.deactivated",
    "user.reactivated",
    "user.verified",
    "user.password_reset_requested",
    "user.password_reset",
    "user.logged_out",
    "user.data.uploaded",
    "user.data.updated",
    "user.data.deleted",
}


def publish_all() -> None:
    while publisher.publish_pending():
        pass


@pytest.mark.django_db(transaction=True)
def test_every_event_type_reaches_kafka_with_key_headers_and_envelope(
    api, admin, kafka, kafka_broker, deliver, s3
):
    with deliver():
        created = api.post(
            "/user", {"email": "ev@example.com", "password": PASSWORD}, format="json"
        ).json()
    user = User.objects.get(pk=created["user_id"])
    link = next(line for line in mail.outbox[0].body.splitlines() if "/user/verify?" in line)
    assert api.get("/user/verify?" + link.split("?", 1)[1]).status_code == 200
    assert login(api, user.email, "wrong password").status_code == 401
    session = login(api, user.email).json()
    assert api.post("/logout", HTTP_AUTHORIZATION=f"Bearer {session['token']}").status_code == 204
    client = client_for(user)
    admin_client = client_for(admin)
    client.put(
        "/user",
        {"user_id": user.pk, "password": "second passphrase 2", "current_password": PASSWORD},
        format="json",
    )
    admin_client.put("/user", {"user_id": user.pk, "email": "ev2@example.com"}, format="json")
    admin_client.put(
        "/user", {"user_id": user.pk, "role": "admin", "email": "ev3@example.com"}, format="json"
    )
    upload = client.generic(
        "POST", "/user/data", b"bytes", content_type="text/plain", HTTP_FILENAME="f.txt"
    )
    data_id = upload.json()["data_id"]
    client.put("/user/data", {"data_id": data_id, "comments": "c"}, format="json")
    client.delete(f"/user/data/{data_id}")
    with deliver():
        api.post("/user/password/reset", {"email": "ev3@example.com"}, format="json")
    code = mail.outbox[-1].body.split("code:\n\n", 1)[1].split("\n", 1)[0]
    body = {"email": "ev3@example.com", "token": code, "password": "third passphrase 33"}
    assert api.post("/user/password/change", body, format="json").status_code == 200
    admin_client.delete("/user", {"user_id": user.pk}, format="json")
    admin_client.put("/user", {"user_id": user.pk, "state": 0}, format="json")

    rows = list(OutboxEvent.objects.filter(key=f"user-{user.pk}").order_by("id"))
    publish_all()
    assert OutboxEvent.objects.filter(sent_at=None).count() == 0
    messages = [
        m
        for m in consume(kafka_broker.address, kafka, count=OutboxEvent.objects.count())
        if m["key"] == f"user-{user.pk}"
    ]
    envelopes = [json.loads(m["value"]) for m in messages]
    assert {e["type"] for e in envelopes} == ALL_TYPES
    # One event per change, in commit order.
    assert [e["id"] for e in envelopes] == [str(row.event_id) for row in rows]
    for message, event in zip(messages, envelopes, strict=True):
        assert set(event) == {"id", "type", "schema_version", "occurred_at", "user_id", "data"}
        assert event["user_id"] == user.pk
        assert message["headers"] == {
            "event_id": event["id"],
            "event_type": event["type"],
            "content-type": "application/json",
        }
        for secret in (
            PASSWORD,
            "second passphrase",
            "third passphrase",
            "argon2",
            code,
            session["token"],
            session["refresh"],
        ):
            assert secret not in message["value"]


def test_a_rolled_back_change_announces_nothing(user, kafka):
    with pytest.raises(RuntimeError), transaction.atomic():
        announce(user, "user.updated", changes=["role"])
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.exists()
    announce(user, "user.updated", changes=["role"])
    assert OutboxEvent.objects.count() == 1


def test_a_refused_registration_announces_nothing(api, user, kafka):
    response = api.post("/user", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 409
    assert not OutboxEvent.objects.filter(event_type="user.created").exists()


@pytest.mark.parametrize("switch", ["KAFKA_ENABLED", "KAFKA_PUBLISH_EVENTS"])
def test_events_are_off_unless_both_switches_are_on(api, kafka, settings, switch):
    setattr(settings, switch, False)
    assert (
        api.post(
            "/user", {"email": "x@example.com", "password": PASSWORD}, format="json"
        ).status_code
        == 201
    )
    assert not OutboxEvent.objects.exists()


def test_failed_delivery_is_retried_later_and_holds_back_the_users_later_events(
    user, kafka, settings
):
    settings.KAFKA_BROKERS = "127.0.0.1:9"  # nothing listens there
    settings.KAFKA_MESSAGE_TIMEOUT_MS = 1000
    announce(user, "user.updated", changes=["role"])
    announce(user, "user.logged_out", session_id=None)
    dead = Publisher()
    failed_before = REGISTRY.get_sample_value("restapi_outbox_failed_total") or 0
    assert dead.publish_pending() == 2
    # Only the first row was tried to the end: the second waits behind it.
    assert REGISTRY.get_sample_value("restapi_outbox_failed_total") == failed_before + 1
    first, second = OutboxEvent.objects.order_by("id")
    assert first.sent_at is None and first.attempts == 1 and first.last_error
    assert first.next_attempt_at > first.created_at
    # The later event waits behind the failed one, untouched.
    assert second.sent_at is None and second.attempts == 0
    assert dead.publish_pending() == 0


def test_purge_removes_sent_rows_after_retention(user, kafka, settings):
    announce(user, "user.updated", changes=["role"])
    published_before = REGISTRY.get_sample_value("restapi_outbox_published_total") or 0
    publish_all()
    assert REGISTRY.get_sample_value("restapi_outbox_published_total") == published_before + 1
    settings.KAFKA_OUTBOX_RETENTION_HOURS = 0
    announce(user, "user.logged_out", session_id=None)
    Publisher()._purge_if_due()
    assert list(OutboxEvent.objects.values_list("event_type", flat=True)) == ["user.logged_out"]


def test_one_off_messages_go_through_the_outbox(
    admin_client, user_client, api, kafka, kafka_broker, settings
):
    settings.KAFKA_TOPICS = ["testing"]
    body = {
        "topic": "testing",
        "key": "k1",
        "value": {"hello": "world"},
        "headers": {"source": "tests"},
    }
    response = admin_client.post("/kafka/publish", body, format="json")
    assert response.status_code == 202
    event_id = response.json()["event_id"]
    assert_error(user_client.post("/kafka/publish", body, format="json"), 403, "permission_denied")
    assert_error(api.post("/kafka/publish", body, format="json"), 401, "not_authenticated")
    bad_topic = admin_client.post("/kafka/publish", {**body, "topic": "secret"}, format="json")
    assert "topic" in assert_error(bad_topic, 400, "validation_error")["errors"]
    assert_error(
        admin_client.post("/kafka/publish", {"topic": "testing"}, format="json"),
        400,
        "validation_error",
    )
    call_command("kafka_publish", "--topic", "testing", "--value", "plain text", "--header", "a=b")
    publish_all()
    messages = consume(kafka_broker.address, "testing", count=2)
    by_value = {m["value"]: m for m in messages}
    assert by_value['{"hello":"world"}']["key"] == "k1"
    assert by_value['{"hello":"world"}']["headers"] == {"event_id": event_id, "source": "tests"}
    assert by_value["plain text"]["headers"]["a"] == "b"


def test_a_tombstone_row_reaches_kafka_without_a_value(kafka: str, kafka_broker: Broker) -> None:
    """A NULL value is sent as no value at all (Kafka's deletion mark), not "" or "None"."""
    event_id = uuid.uuid4()
    outbox_add(
        topic=kafka,
        key="user-7",
        event_type=TOMBSTONE,
        value=None,
        headers=[["event_id", str(event_id)]],
        event_id=event_id,
    )
    assert OutboxEvent.objects.get().value is None
    publish_all()
    assert OutboxEvent.objects.get().sent_at is not None
    [message] = consume(kafka_broker.address, kafka, count=1)
    assert (message["key"], message["value"]) == ("user-7", None)
    assert message["headers"] == {"event_id": str(event_id)}


@pytest.mark.django_db(transaction=True)
def test_read_events_are_published_best_effort(user, kafka, kafka_broker, settings):
    settings.KAFKA_PUBLISH_READ_EVENTS = True
    settings.KAFKA_NUM_THREADS = 1
    publisher.start()
    try:
        client = client_for(user)
        client.get(f"/user/{user.pk}")
        client.post("/user/search", {"email": "alice"}, format="json")
        client.post("/user/data/search", {}, format="json")
        publisher.producer().flush(10)
    finally:
        publisher.stop()
    types = {json.loads(m["value"])["type"] for m in consume(kafka_broker.address, kafka, count=3)}
    assert types == {"user.read", "user.searched", "user.data.searched"}
    assert not OutboxEvent.objects.filter(event_type__in=types).exists()


@pytest.mark.django_db(transaction=True)
def test_a_wake_up_runs_one_pass_not_one_per_thread(settings, monkeypatch):
    settings.KAFKA_NUM_THREADS = 3
    settings.KAFKA_PUBLISH_IDLE_INTERVAL_SEC = 60
    pool = Publisher()
    passes: list[int] = []
    first_passes = threading.Barrier(4)

    def counted() -> int:
        passes.append(1)
        if len(passes) <= 3:
            first_passes.wait(5)  # every thread's first pass, at start
        return 0

    monkeypatch.setattr(pool, "publish_pending", counted)
    pool.start()
    try:
        first_passes.wait(5)
        time.sleep(0.2)  # the three threads are asleep
        pool.wake()
        time.sleep(0.5)
        assert len(passes) == 4
    finally:
        pool.stop()


def outbox_rows(count: int) -> None:
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            event_id=(event_id := uuid.uuid4()),
            topic="claims",
            key=f"user-{number}",
            order_key=f"user-{number}",
            event_type="user.updated",
            value="{}",
            headers=[["event_id", str(event_id)]],
        )
        for number in range(count)
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_passes_claim_different_keys(settings):
    """A pass holding the oldest batch's keys does not leave the next one empty-handed."""
    settings.KAFKA_OUTBOX_BATCH = 10
    outbox_rows(30)
    first_claimed, release = threading.Event(), threading.Event()
    first: list[str] = []

    def hold_a_claim() -> None:
        try:
            with transaction.atomic():
                first.extend(row.order_key for row in _claim(timezone.now()))
                first_claimed.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_a_claim)
    holder.start()
    try:
        assert first_claimed.wait(10)
        with transaction.atomic():
            second = [row.order_key for row in _claim(timezone.now())]
    finally:
        release.set()
        holder.join()
    assert len(first) == len(second) == 10
    assert not set(first) & set(second)
    assert first == [f"user-{number}" for number in range(10)]
