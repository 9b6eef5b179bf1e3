"""One-off messages: checked alike by the API and the command, never passing for the
service's own events, and refused while Kafka is off."""

import io

import pytest
from django.core.management import CommandError, call_command

from kafka_events.models import OutboxEvent
from restapi.commands import EXIT_BAD_INPUT, EXIT_FAILED
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def kafka_on(settings):
    """KAFKA_ENABLED=1; no broker is needed: nothing is published here."""
    settings.KAFKA_ENABLED = True


RESERVED = ["event_id", "event_type", "content-type", "EVENT_ID", "Event_Type", "Content-Type"]


@pytest.mark.parametrize("name", RESERVED)
def test_the_api_refuses_reserved_headers(admin_client, settings, name):
    body = {
        "topic": settings.KAFKA_USER_EVENTS_TOPIC,
        "value": {"type": "user.created"},
        "headers": {"source": "ops", name: "forged"},
    }
    response = admin_client.post("/kafka/publish", body, format="json")
    errors = assert_error(response, 400, "validation_error")["errors"]
    assert name in errors["headers"][0] and "source" not in errors["headers"][0]
    assert not OutboxEvent.objects.exists()


@pytest.mark.parametrize("name", RESERVED)
def test_the_command_refuses_them_the_same_way(settings, name):
    topic = settings.KAFKA_USER_EVENTS_TOPIC
    with pytest.raises(CommandError, match=f"headers: Reserved .*{name}"):
        call_command("kafka_publish", "--topic", topic, "--value", "{}", "--header", f"{name}=x")
    assert not OutboxEvent.objects.exists()


def test_other_headers_still_pass_and_the_service_sets_its_own(admin_client, settings, kafka_on):
    body = {
        "topic": settings.KAFKA_USER_EVENTS_TOPIC,
        "value": 1,
        "headers": {"event-source": "ops", "trace_id": "t-1"},
    }
    assert admin_client.post("/kafka/publish", body, format="json").status_code == 202
    headers = OutboxEvent.objects.get().headers
    assert [name for name, _ in headers] == ["event_id", "event-source", "trace_id"]


def test_a_bad_topic_and_a_reserved_header_are_reported_together(admin_client):
    body = {"topic": "secret", "value": 1, "headers": {"event_id": "x"}}
    response = admin_client.post("/kafka/publish", body, format="json")
    assert set(assert_error(response, 400, "validation_error")["errors"]) == {"topic", "headers"}


def test_with_kafka_off_the_api_refuses_with_409_events_disabled(admin_client, settings):
    settings.KAFKA_ENABLED = False
    body = {"topic": settings.KAFKA_USER_EVENTS_TOPIC, "value": {"hello": "world"}}
    refused = assert_error(
        admin_client.post("/kafka/publish", body, format="json"), 409, "events_disabled"
    )
    assert "KAFKA_ENABLED=0" in refused["msg"] and "errors" not in refused
    # Invalid input is still told first, as it would be with Kafka on.
    bad = admin_client.post("/kafka/publish", {**body, "topic": "secret"}, format="json")
    assert "topic" in assert_error(bad, 400, "validation_error")["errors"]
    assert not OutboxEvent.objects.exists()


def test_with_kafka_off_the_command_refuses_too(settings):
    settings.KAFKA_ENABLED = False
    topic = settings.KAFKA_USER_EVENTS_TOPIC
    with pytest.raises(CommandError) as refused:
        call_command("kafka_publish", "--topic", topic, "--value", "{}")
    assert str(refused.value) == (
        "Kafka is disabled on this service (KAFKA_ENABLED=0): nothing would send it."
    )
    assert refused.value.returncode == EXIT_FAILED
    assert not OutboxEvent.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--value", "null"], "value: This field may not be null."),
        (["--value", "1", "--key", "k" * 256], "key: Ensure this field has no more than 255"),
        (["--value", "1", "--header", "h=" + "v" * 1025], "headers: h: Ensure this field"),
        (["--value", "1", "--header", "no-equals-sign"], "--header takes NAME=VALUE"),
    ],
)
def test_the_command_checks_input_as_the_api_does(settings, kafka_on, args, message):
    with pytest.raises(CommandError, match=message) as refused:
        call_command("kafka_publish", "--topic", settings.KAFKA_USER_EVENTS_TOPIC, *args)
    assert refused.value.returncode == EXIT_BAD_INPUT
    assert "ErrorDetail" not in str(refused.value)
    assert not OutboxEvent.objects.exists()


def test_the_command_says_what_it_queued(settings, kafka_on):
    out = io.StringIO()
    topic = settings.KAFKA_USER_EVENTS_TOPIC
    call_command("kafka_publish", "--topic", topic, "--value", '{"a": 1}', "--key", "k", stdout=out)
    row = OutboxEvent.objects.get()
    assert out.getvalue() == f"Queued {row.event_id} on {topic}\n"
    assert (row.key, row.value) == ("k", '{"a":1}')
