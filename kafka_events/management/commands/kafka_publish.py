import json
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.exceptions import ValidationError

from kafka_events.services import message_publish


class Command(BaseCommand):
    help = "Queue a one-off Kafka message (through the outbox, like every event)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--topic", required=True)
        parser.add_argument("--key")
        parser.add_argument("--value", required=True, help="the message; JSON is kept as JSON")
        parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")

    def handle(
        self, *args: Any, topic: str, key: str | None, value: str, header: list[str], **options: Any
    ) -> None:
        try:
            headers = dict(item.split("=", 1) for item in header)
        except ValueError as exc:
            raise CommandError("--header takes NAME=VALUE") from exc
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        try:
            event_id = message_publish(topic=topic, key=key, value=parsed, headers=headers)
        except ValidationError as exc:
            # The service refuses with {field: [message, ...]}, as the API shows it.
            detail = cast(dict[str, list[str]], exc.detail)
            raise CommandError(
                " ".join(f"{field}: {' '.join(messages)}" for field, messages in detail.items())
            ) from exc
        self.stdout.write(f"Queued {event_id}")
