"""The producer pool: the only module that imports confluent-kafka.

One Producer per process, made after gunicorn forks (librdkafka's threads do not survive
fork), shared by KAFKA_NUM_THREADS publisher threads. Each thread repeatedly claims the keys
of the oldest due outbox rows (a PostgreSQL advisory lock per key, all taken in one
statement and held for the claim's transaction, so one key is published by one thread
of one process at a time, in id order), publishes their rows with an idempotent
producer, and marks a row sent only from its delivery report. A failed row waits with
exponential backoff; the rows after it in its key wait too, so a user's events keep their
order. Rows left by a killed process are claimed by any other once its transaction (and
lock) is gone.
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from kafka_events.metrics import EVENTS_FAILED, EVENTS_PUBLISHED
from kafka_events.models import OutboxEvent

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60
PURGE_EVERY_SECONDS = 600
# As librdkafka's linger.ms: commits this close together are published in one pass.
GATHER_SECONDS = 0.005

# A pass claims in two statements: up to a batch of keys among the oldest due rows, each
# under an advisory lock this transaction takes (one statement for them all; a round trip
# per key was most of a pass), then every unsent row of those keys in id order (a key's
# first row may still wait for a retry; the rows after it wait with it). The keys come
# from a window of CLAIM_WINDOW_BATCHES batches and a key another pass holds is skipped,
# so concurrent passes publish different keys instead of all but one finding the oldest
# batch's keys taken. The LIMIT stops taking locks once it has enough; MATERIALIZED keeps
# PostgreSQL from moving the lock into the grouping, where it would lock every key of the
# window. One statement joining the two was slower: PostgreSQL then compares every row
# with every key.
CLAIM_WINDOW_BATCHES = 4
CLAIM_KEYS = """
WITH due AS (
    SELECT id, order_key FROM kafka_outbox
    WHERE sent_at IS NULL AND next_attempt_at <= %(now)s
    ORDER BY id LIMIT %(window)s
), keys AS MATERIALIZED (
    SELECT order_key FROM due GROUP BY order_key ORDER BY min(id)
)
SELECT array_agg(order_key) FROM (
    SELECT order_key FROM keys
    WHERE pg_try_advisory_xact_lock(hashtextextended('outbox:' || order_key, 0))
    LIMIT %(batch)s
) AS claimed
"""
CLAIMED_ROWS = """
SELECT id, event_id, topic, key, order_key, value, headers, attempts, next_attempt_at
FROM kafka_outbox
WHERE sent_at IS NULL AND order_key = ANY(%(keys)s)
ORDER BY id LIMIT %(batch)s
"""


@dataclass(slots=True)
class Pending:
    """An unsent outbox row, as a pass publishes it."""

    pk: int
    event_id: uuid.UUID
    topic: str
    key: str | None
    order_key: str
    value: str | None  # None: a tombstone, sent without a value
    headers: list[list[str]]
    attempts: int
    next_attempt_at: datetime


def producer_config() -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.KAFKA_BROKERS,
        "client.id": settings.KAFKA_LOG_LABEL,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": settings.KAFKA_MESSAGE_TIMEOUT_MS,
        # librdkafka's own log lines go through Python logging, not straight to stderr.
        "logger": logging.getLogger("kafka_events.librdkafka"),
    }
    if settings.KAFKA_TLS_CLIENT_CA:
        config |= {"security.protocol": "SSL", "ssl.ca.location": settings.KAFKA_TLS_CLIENT_CA}
        if settings.KAFKA_TLS_CLIENT_CERT and settings.KAFKA_TLS_CLIENT_KEY:
            config |= {
                "ssl.certificate.location": settings.KAFKA_TLS_CLIENT_CERT,
                "ssl.key.location": settings.KAFKA_TLS_CLIENT_KEY,
            }
    return config


def _claim(now: datetime) -> list[Pending]:
    if connection.vendor != "postgresql":
        # The SQLite fallback runs one process: no locks (duplicates at worst).
        rows = OutboxEvent.objects.filter(sent_at=None).order_by("id")
        return [
            Pending(
                row.pk,
                row.event_id,
                row.topic,
                row.key,
                row.order_key,
                row.value,
                row.headers,
                row.attempts,
                row.next_attempt_at,
            )
            for row in rows[: settings.KAFKA_OUTBOX_BATCH]
        ]
    batch = settings.KAFKA_OUTBOX_BATCH
    with connection.cursor() as cursor:
        window = batch * CLAIM_WINDOW_BATCHES
        cursor.execute(CLAIM_KEYS, {"now": now, "batch": batch, "window": window})
        keys = cursor.fetchone()[0]
        if not keys:
            return []
        cursor.execute(CLAIMED_ROWS, {"keys": keys, "batch": batch})
        return [
            Pending(pk, event_id, topic, key, order_key, value, _json(headers), attempts, due)
            for pk, event_id, topic, key, order_key, value, headers, attempts, due in cursor
        ]


def _json(headers: Any) -> list[list[str]]:
    # Django's connection hands jsonb over as text (its JSONField decodes it).
    return json.loads(headers) if isinstance(headers, str) else headers  # type: ignore[no-any-return]


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        # A wake-up goes to one idle thread: the others would only claim nothing.
        self._wake = threading.Condition()
        self._woken = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # The first pass purges: time.monotonic() may be smaller than the interval on a
        # freshly booted machine.
        self._purged_at = -float(PURGE_EVERY_SECONDS)

    def producer(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer({**producer_config(), "error_cb": self._on_error})
            return self._producer

    def _on_error(self, error: KafkaError) -> None:
        # A fatal error leaves the producer unusable: the next pass makes a new one.
        if error.fatal():
            logger.error("Kafka producer failed fatally, replacing it: %s", error)
            with self._lock:
                self._producer = None

    def _replace(self, producer: Producer) -> None:
        with self._lock:
            if self._producer is producer:
                self._producer = None

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def wake(self) -> None:
        with self._wake:
            self._woken = True
            self._wake.notify()

    def _sleep(self) -> None:
        """Until a wake-up or the idle interval; after a wake-up, a moment more, so the
        events of requests committing together go out in one pass."""
        with self._wake:
            woken = self._wake.wait_for(
                lambda: self._woken or self._stop.is_set(),
                settings.KAFKA_PUBLISH_IDLE_INTERVAL_SEC,
            )
            self._woken = False
        if woken:
            self._stop.wait(GATHER_SECONDS)

    def start(self) -> None:
        """Starts the publisher threads in this process (call it after fork)."""
        self._stop.clear()
        for number in range(settings.KAFKA_NUM_THREADS):
            thread = threading.Thread(
                target=self._loop, name=f"kafka-publisher-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        """Stops the threads after their current batch and flushes what is in flight."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        if self._producer is not None:
            self._producer.flush(timeout)

    def run_forever(self) -> None:
        """The standalone relay (manage.py kafka_relay): the pool in the foreground."""
        self.start()
        while self.running and not self._stop.is_set():
            self._stop.wait(1)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                published = self.publish_pending()
                self._purge_if_due()
            except Exception:
                logger.exception("Publishing the outbox failed; retrying")
                published = 0
            finally:
                close_old_connections()
            if published == settings.KAFKA_OUTBOX_BATCH:
                self.wake()  # a backlog: another thread shares it
            elif not published:
                self._sleep()

    def publish_pending(self) -> int:
        """One pass: claim due keys, publish their rows in order, record the reports."""
        now = timezone.now()
        with transaction.atomic():
            sendable = self._sendable(_claim(now), now)
            if not sendable:
                return 0
            reports: dict[int, KafkaError | None] = {}
            producer = self.producer()
            for row in sendable:
                producer.produce(
                    row.topic,
                    key=row.key,
                    # A tombstone's None, not b"": an empty value is not a deletion to Kafka.
                    value=None if row.value is None else row.value.encode(),
                    headers=[(name, value) for name, value in row.headers],
                    on_delivery=self._report(reports, row.pk),
                )
            producer.flush(settings.KAFKA_MESSAGE_TIMEOUT_MS / 1000 + 5)
            self._record(sendable, reports)
        if any(reports.get(row.pk, True) for row in sendable):
            # After a broker restart an idempotent producer can be stuck on a producer id
            # the broker no longer knows; a fresh producer gets a new one.
            self._replace(producer)
        return len(sendable)

    @staticmethod
    def _sendable(rows: list[Pending], now: datetime) -> list[Pending]:
        """Rows in order, stopping each key at its first row still waiting for a retry."""
        waiting: set[str] = set()
        sendable = []
        for row in rows:
            if row.order_key in waiting or row.next_attempt_at > now:
                waiting.add(row.order_key)
                continue
            sendable.append(row)
        return sendable

    @staticmethod
    def _report(
        reports: dict[int, KafkaError | None], pk: int
    ) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            reports[pk] = error

        return on_delivery

    @staticmethod
    def _record(rows: list[Pending], reports: dict[int, KafkaError | None]) -> None:
        sent, failed_keys = [], set()
        for row in rows:
            if row.order_key in failed_keys:
                continue  # published again after the failed row before it, to keep order
            error = reports.get(row.pk, "no delivery report")
            if error is None:
                sent.append(row.pk)
                continue
            failed_keys.add(row.order_key)
            EVENTS_FAILED.inc()
            row.attempts += 1
            # Backoff counts from the failure, not from the start of a long flush.
            delay = min(
                MAX_BACKOFF_SECONDS,
                settings.KAFKA_PUBLISH_RETRY_INTERVAL_SEC * 2 ** (row.attempts - 1),
            )
            OutboxEvent.objects.filter(pk=row.pk).update(
                attempts=row.attempts,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
                last_error=str(error)[:500],
            )
            logger.warning(
                "Publishing event %s failed (attempt %d): %s", row.event_id, row.attempts, error
            )
        OutboxEvent.objects.filter(pk__in=sent).update(sent_at=timezone.now())
        EVENTS_PUBLISHED.inc(len(sent))

    def _purge_if_due(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = time.monotonic()
        cutoff = timezone.now() - timedelta(hours=settings.KAFKA_OUTBOX_RETENTION_HOURS)
        OutboxEvent.objects.filter(sent_at__lt=cutoff).delete()

    def publish_best_effort(
        self, *, topic: str, key: str, value: str, headers: list[list[str]]
    ) -> None:
        """For read events: straight to the producer's queue, dropped if it is full or down."""
        if not self.running:
            return
        try:
            self.producer().produce(
                topic, key=key, value=value.encode(), headers=[(n, v) for n, v in headers]
            )
            self.producer().poll(0)
        except (BufferError, KafkaException):
            logger.debug("Dropped a read event: the producer queue is full")


publisher = Publisher()
