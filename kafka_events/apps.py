from django.apps import AppConfig


class KafkaEventsConfig(AppConfig):
    name = "kafka_events"
    default_auto_field = "django.db.models.BigAutoField"
