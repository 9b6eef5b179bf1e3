import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from kafka_events.serializers import PublishInput
from kafka_events.services import message_publish
from restapi.commands import EXIT_BAD_INPUT, ServiceCommand


class Command(ServiceCommand):
    help = (
        "Queue a one-off Kafka message (through the outbox, like every event). It is "
        "checked as POST /kafka/publish checks it, and refused while KAFKA_ENABLED=0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--topic", required=True, help="KAFKA_USER_EVENTS_TOPIC or one of KAFKA_TOPICS"
        )
        parser.add_argument("--key", help="the message key (none: ordered by event id alone)")
        parser.add_argument(
            "--value",
            required=True,
            help="the message; valid JSON is sent as JSON, anything else as a string",
        )
        parser.add_argument(
            "--header",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a message header (repeatable)",
        )

    def handle(
        self, *args: Any, topic: str, key: str | None, value: str, header: list[str], **options: Any
    ) -> None:
        if any("=" not in item for item in header):
            raise CommandError("--header takes NAME=VALUE", returncode=EXIT_BAD_INPUT)
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        body: dict[str, Any] = {"topic": topic, "value": parsed}
        if key is not None:
            body["key"] = key
        if header:
            body["headers"] = dict(item.split("=", 1) for item in header)
        serializer = PublishInput(data=body)
        serializer.is_valid(raise_exception=True)
        event_id = message_publish(**serializer.validated_data)
        self.stdout.write(f"Queued {event_id} on {topic}")
