"""Events: an outbox backlog drained to Tansu by the service's publishers, beside a bare
producer sending the same messages; write throughput with events on beside events off."""

import json
import time
import uuid
from typing import Any

from confluent_kafka import Producer

from bench.client import Account
from bench.report import Row, ours_at_least, ratio_at_least
from bench.run import Bench
from bench.services import BenchError, Server
from bench.wrk import Spec, run_wrk

TOPIC = "bench.outbox"
KEYS = 1000
EVENTS_PER_SECOND_OF_RUN = 5000
WRITERS = 32
# The backlog's rows are due at once.
PAST = "2000-01-01 00:00:00+00"


def message(i: int) -> tuple[str, str, str]:
    """The key, value and headers (as JSON) of the i-th backlog event, shaped like the
    service's user events."""
    event_id = uuid.UUID(int=i + 1)
    value = json.dumps(
        {
            "id": str(event_id),
            "type": "user.updated",
            "occurred_at": "2026-01-01T00:00:00Z",
            "user_id": i % KEYS,
            "data": {"user_id": i % KEYS, "email": f"user{i % KEYS}@example.com", "state": 0},
        },
        separators=(",", ":"),
    )
    headers = json.dumps(
        [
            ["event_id", str(event_id)],
            ["event_type", "user.updated"],
            ["content-type", "application/json"],
        ]
    )
    return f"user-{i % KEYS}", value, headers


def fill_outbox(bench: Bench, count: int) -> None:
    with bench.db() as conn:
        required = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name ="
                " 'kafka_outbox' AND is_nullable = 'NO' AND column_default IS NULL"
            ).fetchall()
        }
        present = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'kafka_outbox'"
            ).fetchall()
        }
        columns = [
            c
            for c in (
                "event_id",
                "topic",
                "key",
                "order_key",
                "event_type",
                "value",
                "headers",
                "created_at",
                "attempts",
                "next_attempt_at",
                "last_error",
            )
            if c in present
        ]
        missing = required - set(columns) - {"id"}
        if missing:
            raise BenchError(
                f"kafka_outbox has NOT NULL columns the bench does not fill: {missing}"
            )
        copy_sql = f"COPY kafka_outbox ({', '.join(columns)}) FROM STDIN"
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for i in range(count):
                key, value, headers = message(i)
                values = {
                    "event_id": str(uuid.uuid4()),
                    "topic": TOPIC,
                    "key": key,
                    "order_key": key,
                    "event_type": "user.updated",
                    "value": value,
                    "headers": headers,
                    "created_at": PAST,
                    "attempts": 0,
                    "next_attempt_at": PAST,
                    "last_error": "",
                }
                copy.write_row([values[c] for c in columns])


def pending(bench: Bench, topic: str | None = None) -> int:
    sql = "SELECT count(*) FROM kafka_outbox WHERE sent_at IS NULL"
    if topic is None:
        return int(bench.scalar(sql))
    return int(bench.scalar(sql + " AND topic = %s", [topic]))


def drain_rate(bench: Bench, count: int, deadline: float) -> float:
    """Events/s from the first sent batch to the last, polled every 50 ms."""
    fill_outbox(bench, count)
    first: tuple[float, int] | None = None
    end = time.monotonic() + deadline
    while True:
        left = pending(bench, TOPIC)
        now = time.perf_counter()
        if first is None and left < count:
            first = (now, left)
        if left == 0 or time.monotonic() > end:
            break
        time.sleep(0.05)
    with bench.db() as conn:
        conn.execute("DELETE FROM kafka_outbox WHERE topic = %s", [TOPIC])
    if first is None or now == first[0]:
        raise BenchError(f"the service published none of {count} outbox events")
    if left:
        raise BenchError(f"{left} of {count} outbox events still pending after {deadline:.0f} s")
    return (first[1] - left) / (now - first[0])


def direct_rate(brokers: str, count: int) -> float:
    """The same messages produced straight to the broker with the service's producer
    settings (idempotent, acks=all, linger 5 ms), delivery reports counted."""
    producer = Producer(
        {
            "bootstrap.servers": brokers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        }
    )
    failed: list[Any] = []

    def report(error: Any, _: Any) -> None:
        if error is not None:
            failed.append(error)

    messages = [message(i) for i in range(count)]
    started = time.perf_counter()
    for key, value, headers in messages:
        while True:
            try:
                producer.produce(
                    "bench.direct",
                    key=key,
                    value=value.encode(),
                    headers=[tuple(h) for h in json.loads(headers)],
                    on_delivery=report,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    seconds = time.perf_counter() - started
    if failed:
        raise BenchError(f"{len(failed)} direct deliveries failed: {failed[0]}")
    return count / seconds


def writer_files(bench: Bench) -> list[tuple[Account, int]]:
    """One small file per writer account, to rewrite the comments of."""
    client = bench.client(bench.ours)
    made = []
    for account in bench.accounts("writes", WRITERS):
        answer = client.expect(
            201,
            "POST",
            "/user/data",
            b"bench,file\n1,2\n",
            token=account.token,
            headers={"filename": "small.csv", "Content-Type": "text/csv"},
        )
        made.append((account, int(answer["data_id"])))
    client.close()
    return made


def write_rate(bench: Bench, server: Server, specs: list[Spec]) -> float:
    outcome = run_wrk(
        server, specs, seconds=bench.args.seconds, connections=WRITERS, work=bench.stack.work
    )
    if outcome.non_2xx or outcome.socket_errors:
        raise BenchError(
            f"PUT /user/data on {server.name}: {outcome.non_2xx} non-2xx,"
            f" {outcome.socket_errors} socket errors"
        )
    return outcome.rate


def wait_drained(bench: Bench, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while pending(bench):
        if time.monotonic() > deadline:
            raise BenchError("the outbox did not drain after the writes")
        time.sleep(0.2)


def scenario(bench: Bench) -> None:
    count = int(EVENTS_PER_SECOND_OF_RUN * bench.args.seconds)
    drained = bench.row(
        Row(
            "events",
            f"outbox → broker, {count:,} events",
            "events/s",
            "bare producer",
            ours_at_least(10_000, "/s"),
        )
    )
    for _ in range(bench.args.rounds):
        drained.add(
            drain_rate(bench, count, max(60, 5 * bench.args.seconds)),
            direct_rate(bench.brokers, count),
        )
    files = writer_files(bench)
    specs = [
        Spec(
            "PUT",
            "/user/data",
            {"Authorization": f"Bearer {account.token}", "Content-Type": "application/json"},
            f'{{"data_id": {data_id}, "comments": "{{n}}"}}',
        )
        for account, data_id in files
    ]
    off = bench.start_service("events-off", {"KAFKA_ENABLED": "0"})
    writes = bench.row(
        Row(
            "events",
            "PUT /user/data, events on",
            "req/s",
            "events off",
            ratio_at_least(0.9),
        )
    )
    try:
        for _ in range(bench.args.rounds):
            wait_drained(bench)
            on_rate = write_rate(bench, bench.ours, specs)
            wait_drained(bench)
            writes.add(on_rate, write_rate(bench, off, specs))
    finally:
        bench.stack.stop(off.process)
    bench.method(
        "events",
        f"{count:,} outbox rows COPYed in over {KEYS} keys, drained by the running service's"
        " publisher threads (KAFKA_NUM_THREADS per worker); events/s from the first batch"
        " marked sent to the last, polled every 50 ms; the reference produces the same"
        " messages from one process with the service's producer settings",
    )
    bench.method(
        "events",
        f"wrk -t2 -c{WRITERS} -d{bench.args.seconds:g}s PUT /user/data (a new comment each"
        f" time, {WRITERS} accounts' own files) on the server under test, and on a second"
        " one of the same code on the same database with KAFKA_ENABLED=0; the outbox is"
        " drained before each measurement",
    )
