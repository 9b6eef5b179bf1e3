from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kafka_events.selectors import outbox_backlog

EVENTS_PUBLISHED = Counter("restapi_outbox_published_total", "Outbox rows delivered to Kafka")
EVENTS_FAILED = Counter("restapi_outbox_failed_total", "Outbox deliveries that failed")


class OutboxCollector(Collector):
    """Read from the database at scrape time, so every process reports the same truth."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = outbox_backlog()
        yield GaugeMetricFamily(
            "restapi_outbox_pending", "Outbox rows not yet delivered", value=backlog.pending
        )
        yield GaugeMetricFamily(
            "restapi_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered outbox row",
            value=backlog.oldest_age_seconds,
        )
