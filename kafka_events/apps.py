from typing import Any

from django.apps import AppConfig
from django.conf import settings


def _publisher_start(**kwargs: Any) -> None:
    """The outbox publisher's threads, in this worker process (librdkafka does not survive
    fork)."""
    from kafka_events.producer import publisher

    if settings.KAFKA_ENABLED and settings.KAFKA_PUBLISH_FROM_WEB:
        publisher.start()


def _publisher_stop(*, timeout: float, **kwargs: Any) -> None:
    """Graceful shutdown: finish the current outbox batch and flush what is in flight."""
    from kafka_events.producer import publisher

    publisher.stop(timeout=timeout)


class KafkaEventsConfig(AppConfig):
    name = "kafka_events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kafka_events import receivers  # noqa: F401  (connects the signal receivers)
        from kafka_events.metrics import OutboxCollector
        from restapi.lifecycle import worker_started, worker_stopping
        from restapi.metrics import collector_register

        collector_register(OutboxCollector())
        worker_started.connect(_publisher_start, dispatch_uid="kafka_events.publisher_start")
        worker_stopping.connect(_publisher_stop, dispatch_uid="kafka_events.publisher_stop")
