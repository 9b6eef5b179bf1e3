"""One-off messages cannot pass for the service's own events."""

import pytest
from django.core.management import CommandError, call_command

from kafka_events.models import OutboxEvent
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

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


def test_other_headers_still_pass_and_the_service_sets_its_own(admin_client, settings):
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
