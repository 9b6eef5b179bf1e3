"""Delivery through failures: mTLS, a relay killed with SIGKILL, a broker outage."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings as django_settings

from kafka_events.models import OutboxEvent
from kafka_events.producer import Publisher
from restapi.signals import announce
from tests.fixtures.kafka import Broker, consume
from tests.fixtures.server import dev_tls_assets
from tests.helpers import BASE_DIR, PASSWORD, free_port, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, timeout=60, every=0.2):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)


@pytest.fixture
def mtls_broker(tmp_path):
    """Tansu behind stunnel, which requires a client certificate signed by the test CA."""
    tls = tmp_path / "tls"
    dev_tls_assets(tls)
    tls_port = free_port()
    broker = Broker(tmp_path / "tansu.log", advertised=tls_port)
    broker.start()
    config = tmp_path / "stunnel.conf"
    config.write_text(
        "foreground = yes\n"
        f"pid = {tmp_path / 'stunnel.pid'}\n"
        "[kafka]\n"
        f"accept = 127.0.0.1:{tls_port}\n"
        f"connect = 127.0.0.1:{broker.port}\n"
        f"cert = {tls / 'kafka' / 'kafka.crt'}\n"
        f"key = {tls / 'kafka' / 'kafka.key'}\n"
        f"CAfile = {tls / 'kafka' / 'kafka-ca.pem'}\n"
        "verifyChain = yes\n"
        "requireCert = yes\n"
    )
    log = tmp_path / "stunnel.log"
    with log.open("wb") as out:
        tunnel = subprocess.Popen(["stunnel4", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(tls_port, tunnel, log)
        yield broker.address, tls / "kafka"
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
        broker.stop()


def test_publishes_over_mtls_and_is_refused_without_a_client_certificate(
    user, kafka, settings, mtls_broker
):
    address, tls = mtls_broker
    settings.KAFKA_BROKERS = address
    settings.KAFKA_MESSAGE_TIMEOUT_MS = 3000
    settings.KAFKA_TLS_CLIENT_CA = str(tls / "kafka-ca.pem")

    announce(user, "user.updated", changes=["role"])
    assert Publisher().publish_pending() == 1
    refused = OutboxEvent.objects.get()
    assert refused.sent_at is None and refused.attempts == 1

    settings.KAFKA_TLS_CLIENT_CERT = str(tls / "client.crt")
    settings.KAFKA_TLS_CLIENT_KEY = str(tls / "client.key")
    OutboxEvent.objects.update(next_attempt_at=refused.created_at)
    assert Publisher().publish_pending() == 1
    assert OutboxEvent.objects.get().sent_at is not None
    messages = consume(
        address,
        kafka,
        count=1,
        config={
            "security.protocol": "SSL",
            "ssl.ca.location": settings.KAFKA_TLS_CLIENT_CA,
            "ssl.certificate.location": settings.KAFKA_TLS_CLIENT_CERT,
            "ssl.key.location": settings.KAFKA_TLS_CLIENT_KEY,
        },
    )
    assert [json.loads(m["value"])["id"] for m in messages] == [str(refused.event_id)]


def relay(kafka_broker, topic):
    env = {
        **os.environ,
        "DEBUG": "1",
        "DB_NAME": django_settings.DATABASES["default"]["NAME"],
        "KAFKA_ENABLED": "1",
        "KAFKA_PUBLISH_EVENTS": "1",
        "KAFKA_BROKERS": kafka_broker.address,
        "KAFKA_USER_EVENTS_TOPIC": topic,
        "KAFKA_OUTBOX_BATCH": "20",
        "KAFKA_NUM_THREADS": "2",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "kafka_relay"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
    )


# Small batches over a few thousand rows: the relay is still busy when it is killed.
ROWS = 4000


def test_relay_killed_mid_publish_loses_nothing(make_user, kafka, kafka_broker):
    users = [make_user() for _ in range(10)]
    rows = [
        OutboxEvent(
            event_id=(event_id := uuid.uuid4()),
            topic=kafka,
            key=f"user-{users[i % 10].pk}",
            order_key=f"user-{users[i % 10].pk}",
            event_type="user.updated",
            value=json.dumps({"id": str(event_id), "n": i}),
            headers=[["event_id", str(event_id)]],
        )
        for i in range(ROWS)
    ]
    OutboxEvent.objects.bulk_create(rows)
    first = relay(kafka_broker, kafka)
    wait_until(lambda: OutboxEvent.objects.exclude(sent_at=None).count() >= 200, every=0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    pending = OutboxEvent.objects.filter(sent_at=None).count()
    assert 0 < pending < ROWS
    second = relay(kafka_broker, kafka)
    try:
        wait_until(lambda: not OutboxEvent.objects.filter(sent_at=None).exists())
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    everything = []

    def first_copy(message):
        everything.append(message)
        return message["headers"]["event_id"] not in {
            m["headers"]["event_id"] for m in everything[:-1]
        }

    messages = consume(kafka_broker.address, kafka, count=ROWS, where=first_copy)
    assert {m["headers"]["event_id"] for m in messages} == {str(row.event_id) for row in rows}
    # Duplicates are allowed (at least once); each copy carries the same event id.
    for message in everything:
        assert json.loads(message["value"])["id"] == message["headers"]["event_id"]
    print(f"\n{len(everything) - ROWS} duplicates after the SIGKILL, {pending} rows were pending")


def new_outage_event(seen):
    """Counts each outage event once: redelivered copies (at least once) are skipped."""

    def where(message):
        event_id = message["headers"].get("event_id")
        # The topic is every e2e server's: it holds other tests' events, tombstones too.
        value = message["value"] or ""
        if '"email":"outage' not in value or event_id in seen:
            return False
        seen.add(event_id)
        return True

    return where


def test_broker_outage_during_a_burst_loses_nothing_and_keeps_per_user_order(server, kafka_broker):
    topic = server.env["KAFKA_USER_EVENTS_TOPIC"]
    http = server.session()
    emails = [f"outage{i}@example.com" for i in range(5)]

    def burst(rounds):
        for _ in range(rounds):
            for email in emails:
                body = {"email": email, "password": PASSWORD}
                response = http.post(f"{server.url}/login", json=body)
                assert response.status_code == 201, response.text
                auth = {"Authorization": f"Bearer {response.json()['token']}"}
                assert http.post(f"{server.url}/logout", headers=auth).status_code == 204

    for email in emails:
        body = {"email": email, "password": PASSWORD}
        assert http.post(f"{server.url}/user", json=body).status_code == 201
    burst(1)
    mine = OutboxEvent.objects.filter(topic=topic, value__contains='"email":"outage')
    wait_until(lambda: not mine.filter(sent_at=None).exists())
    seen: set[str] = set()
    before = consume(
        kafka_broker.address, topic, count=mine.count(), timeout=30, where=new_outage_event(seen)
    )

    # The broker goes away; requests go on; it comes back (empty: Tansu keeps no disk).
    kafka_broker.stop()
    burst(2)
    assert mine.filter(sent_at=None).exists()
    kafka_broker.start()
    wait_until(lambda: not mine.filter(sent_at=None).exists(), timeout=90)
    after = consume(
        kafka_broker.address,
        topic,
        count=mine.count() - len(before),
        timeout=30,
        where=new_outage_event(seen),
    )

    received = [json.loads(m["value"]) for m in before + after]
    expected = list(mine.order_by("id").values_list("event_id", "key"))
    assert {e["id"] for e in received} == {str(event_id) for event_id, _ in expected}
    for key in {key for _, key in expected}:
        committed = [str(event_id) for event_id, k in expected if k == key]
        assert [e["id"] for e in received if f"user-{e['user_id']}" == key] == committed


@pytest.mark.parametrize(("from_web", "publishing"), [("1", "True"), ("0", "False")])
def test_web_workers_publish_unless_a_separate_relay_does(kafka_broker, from_web, publishing):
    worker = (
        "import restapi.wsgi; from kafka_events.producer import publisher; print(publisher.running)"
    )
    result = subprocess.run(
        [sys.executable, "-c", worker],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DB_NAME": django_settings.DATABASES["default"]["NAME"],
            "KAFKA_ENABLED": "1",
            "KAFKA_BROKERS": kafka_broker.address,
            "KAFKA_PUBLISH_FROM_WEB": from_web,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == publishing
