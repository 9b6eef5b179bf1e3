import signal
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from kafka_events.producer import publisher
from restapi.commands import ServiceCommand
from restapi.metrics import serve_metrics


class Command(ServiceCommand):
    help = (
        "Publish the outbox to Kafka in the foreground: the same loop the web workers run, "
        "for deployments that prefer a sidecar or a separate relay deployment. SIGTERM or "
        "SIGINT stops it after flushing what is in flight."
    )
    # A daemon: its loop rides out a database outage, at start too (a pass that fails is
    # logged and retried), rather than exiting into a restart loop.
    checks_database = False

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.KAFKA_BROKERS:
            raise CommandError("Set KAFKA_BROKERS")

        def stop(signum: int, frame: Any) -> None:
            publisher.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if settings.KAFKA_RELAY_METRICS_ENDPOINT:
            serve_metrics(settings.KAFKA_RELAY_METRICS_ENDPOINT)
            self.stdout.write(f"Metrics at https://{settings.KAFKA_RELAY_METRICS_ENDPOINT}/metrics")
        self.stdout.write(f"Relaying the outbox to {settings.KAFKA_BROKERS}")
        publisher.run_forever()
