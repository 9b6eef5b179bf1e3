"""Every user event the test session writes must validate against its type's schema
(kafka_events/schemas/); a type without one fails the session.

Candidates are the rows the service writes: each OutboxEvent saved (post_save), and the
rows user_events_add writes by COPY (which sends no signal), taken where it builds their
envelopes. At the end of each test the candidates whose row is there (committed, or
pending in a test that rolls back) are read back and kept as stored: what a rolled-back
savepoint wrote (auth's stand-in for an unknown address) is no event. For the live-server
tests, every row the servers committed is read too, before the test's flush removes it.
One-off messages (`message` rows) and tombstones (an erased user's key, no value) have no
envelope and no schema, so they are not judged; the user.erased before a tombstone is."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from jsonschema import Draft202012Validator

from kafka_events import outbox
from kafka_events.contract import SCHEMAS
from kafka_events.models import OutboxEvent
from kafka_events.outbox import TOMBSTONE

# The rows that are no user event: one-off messages and tombstones.
NOT_EVENTS = ("message", TOMBSTONE)

# event id → the test that wrote it, until its row is read back
candidates: dict[str, str] = {}
# event id → (the test that wrote it, its row's event_type, the envelope as stored)
emitted: dict[str, tuple[str, str, str | None]] = {}
current_test = ""


def problems(value: str | None) -> list[str]:
    """What is wrong with one envelope, against its type's schema."""
    if value is None:
        return ["no value: only a tombstone has none"]
    try:
        event = json.loads(value)
    except ValueError:
        return ["not JSON"]
    schema = SCHEMAS.get(event.get("type"), {}).get(event.get("schema_version"))
    if schema is None:
        return [f"no schema for {event.get('type')!r} v{event.get('schema_version')!r}"]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(event)
    ]


def on_outbox_saved(sender: type, instance: OutboxEvent, created: bool, **kwargs: Any) -> None:
    if created and instance.event_type not in NOT_EVENTS:
        candidates[str(instance.event_id)] = current_test


@pytest.fixture(scope="session", autouse=True)
def every_event_matches_its_schema() -> Iterator[None]:
    built = outbox.envelope

    def envelope(**kwargs: Any) -> str:
        candidates[str(kwargs["event_id"])] = current_test
        return built(**kwargs)

    post_save.connect(on_outbox_saved, sender=OutboxEvent, dispatch_uid="event_contract")
    with pytest.MonkeyPatch.context() as patch:
        # outbox's own functions look envelope up at each call: this sees user_events_add's.
        patch.setattr(outbox, "envelope", envelope)
        yield
    post_save.disconnect(sender=OutboxEvent, dispatch_uid="event_contract")
    found = [
        f"{test}: {event_type} {event_id}: {problem}"
        for event_id, (test, event_type, value) in emitted.items()
        for problem in problems(value)
    ]
    assert not found, "events that do not match their schema:\n" + "\n".join(found)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    global current_test
    current_test = nodeid


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        servers = "new_server" in getattr(item, "fixturenames", ())
        if candidates or servers:
            _read_back(servers)


def _read_back(servers: bool) -> None:
    rows = OutboxEvent.objects.exclude(event_type__in=NOT_EVENTS)
    if not servers:
        rows = rows.filter(event_id__in=list(candidates))
    try:
        found = list(rows.values_list("event_id", "event_type", "value"))
    except (DatabaseError, transaction.TransactionManagementError):
        # A test that took the database away or broke its transaction: its rows cannot
        # be read back (nor told apart from rolled-back ones), so they are not judged.
        found = []
    for event_id, event_type, value in found:
        test = candidates.get(str(event_id), current_test)
        emitted.setdefault(str(event_id), (test, event_type, value))
    candidates.clear()
