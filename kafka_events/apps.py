from django.apps import AppConfig


class KafkaEventsConfig(AppConfig):
    name = "kafka_events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kafka_events import receivers  # noqa: F401  (connects the signal receivers)
