from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from privacy.selectors import erasures_backlog

# outcome: ready, retried (storage failed; tried again later), failed (out of attempts),
# expired (deleted after USER_EXPORT_TTL_SECONDS)
EXPORTS = Counter("restapi_exports_total", "Data exports by outcome", ["outcome"])
# outcome: requested, cancelled, retried (storage failed; tried again later), completed
ERASURES = Counter("restapi_erasures_total", "Account erasures by outcome", ["outcome"])


class ErasuresCollector(Collector):
    """Read from the database at scrape time, so every process reports the same truth."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = erasures_backlog()
        yield GaugeMetricFamily(
            "restapi_erasures_pending",
            "Erasures scheduled or running",
            value=backlog.pending,
        )
        yield GaugeMetricFamily(
            "restapi_erasures_overdue_seconds",
            "How long past its due time the most overdue erasure is (0: none)",
            value=backlog.overdue_seconds,
        )
