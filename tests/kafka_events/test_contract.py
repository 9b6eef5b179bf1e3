"""The events' contract (kafka_events/schemas/): a schema for every type the code emits
and none for a type it does not, every payload builder's output valid against its type,
the API's serializers no longer in the events' path, and the schemas served as published.
tests/event_contract.py validates every event the whole session writes."""

import json
import re
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from kafka_events import payloads
from kafka_events.contract import SCHEMA_DIR, SCHEMAS, schema_version
from kafka_events.models import OutboxEvent
from kafka_events.outbox import TOMBSTONE, envelope
from restapi.signals import announce_erased
from tests import event_contract
from tests.event_contract import problems
from tests.helpers import BASE_DIR, file_row
from userdata.models import UserFile
from users.models import User

pytestmark = pytest.mark.django_db

# Where event types are written: what announces them and what turns them into rows.
EMITTING_APPS = ("users", "auth", "mfa", "userdata", "kafka_events")
# What no event may carry.
SECRETS = {"password", "current_password", "token", "refresh", "code", "hash", "key"}
TYPE_LITERAL = re.compile(r"""["'](user\.[a-z_]+(?:\.[a-z_]+)*)["']""")


def types_in_code() -> set[str]:
    found = set()
    for app in EMITTING_APPS:
        for path in (BASE_DIR / app).rglob("*.py"):
            found |= set(TYPE_LITERAL.findall(path.read_text()))
    return found


def test_every_type_in_the_code_has_a_schema_and_every_schema_a_type():
    assert types_in_code() == set(SCHEMAS)


def test_the_validator_checks_the_formats_the_schemas_use():
    # jsonschema skips a format whose checker's package is missing (rfc3339-validator).
    assert {"date-time", "uuid", "email"} <= set(Draft202012Validator.FORMAT_CHECKER.checkers)


def test_every_schema_file_is_a_valid_draft_2020_12_schema_of_its_type_and_version():
    files = sorted(SCHEMA_DIR.glob("*.json"))
    assert len(files) == sum(len(versions) for versions in SCHEMAS.values())
    for event_type, versions in SCHEMAS.items():
        assert sorted(versions) == list(range(1, len(versions) + 1)), event_type
        for version, schema in versions.items():
            Draft202012Validator.check_schema(schema)
            assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            assert schema["properties"]["type"] == {"const": event_type}
            assert schema["properties"]["schema_version"] == {"const": version}
            assert schema["additionalProperties"] is False
            assert schema["properties"]["data"]["additionalProperties"] is False
            fields = set(schema["properties"]["data"]["properties"])
            assert not fields & SECRETS, (event_type, fields & SECRETS)


def event(event_type: str, user_id: int, data: dict) -> dict:
    return json.loads(
        envelope(event_id=uuid.uuid4(), event_type=event_type, user_id=user_id, data=data)
    )


def valid(value: dict) -> None:
    assert problems(json.dumps(value)) == [], value


def test_the_envelope_carries_its_types_schema_version(user):
    body = event("user.created", user.pk, payloads.user_payload(user))
    assert list(body) == ["id", "type", "schema_version", "occurred_at", "user_id", "data"]
    assert body["schema_version"] == schema_version("user.created") == 1
    assert body["occurred_at"].endswith("Z")
    with pytest.raises(KeyError):
        schema_version("user.nothing")


USER_EXTRAS: dict[str, dict[str, Any]] = {
    "user.created": {},
    "user.imported": {},
    "user.logged_in": {"client_ip": "192.0.2.7"},
    "user.login_failed": {},
    "user.logged_out": {"session_id": str(uuid.uuid4())},
    "user.updated": {"changes": ["role", "email"]},
    "user.password_changed": {"changes": ["password"]},
    "user.email_changed": {},
    "user.deactivated": {"changes": ["state"]},
    "user.reactivated": {"changes": ["state"]},
    "user.verified": {},
    "user.password_reset_requested": {},
    "user.password_reset": {},
    "user.mfa_enabled": {"method": "totp"},
    "user.mfa_disabled": {"method": "all"},
    "user.mfa_recovery_used": {},
    "user.login_mfa_failed": {"method": "webauthn"},
    "user.passkey_added": {"passkey_id": 3, "name": "laptop"},
    "user.passkey_removed": {"passkey_id": 3, "name": "laptop"},
}


def test_the_user_payload_is_the_user_shape_and_valid_for_every_user_type(user):
    user.pending_email = "new@example.com"
    shape = payloads.user_payload(user)
    assert shape == {
        "user_id": user.pk,
        "email": "alice@example.com",
        "state": 0,
        "verified": 0,
        "role": "user",
        "pending_email": "new@example.com",
        "password_change_required": False,
        "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": user.updated_at.isoformat().replace("+00:00", "Z"),
    }
    user_types = {t for t in SCHEMAS if t.startswith("user.") and not t.startswith("user.data.")}
    # user.erased carries no UserShape: nothing is left of the user but the id.
    assert set(USER_EXTRAS) == user_types - set(payloads.READ_PAYLOADS) - {"user.erased"}
    for event_type, extras in USER_EXTRAS.items():
        valid(event(event_type, user.pk, {**shape, **extras}))
    # The optional extras are optional, the others not.
    valid(event("user.logged_out", user.pk, {**shape, "session_id": None}))
    valid(event("user.email_changed", user.pk, {**shape, "changes": ["email"]}))
    assert problems(json.dumps(event("user.updated", user.pk, shape)))
    assert problems(json.dumps(event("user.created", user.pk, {**shape, "password": "x"})))


def test_the_file_payloads_are_the_data_record_and_its_deletion(user):
    row = file_row(user, key=f"contract/{uuid.uuid4().hex}", sloc="s3://bucket/contract")
    record = payloads.file_payload(UserFile.objects.get(pk=row.pk))
    assert set(record) == {
        "data_id",
        "user_id",
        "filename",
        "data_type",
        "size_in_bytes",
        "comments",
        "encoding",
        "sloc",
        "sha256",
        "content_type",
        "created_at",
        "updated_at",
    }
    for event_type in ("user.data.uploaded", "user.data.updated"):
        valid(event(event_type, user.pk, record))
    deleted = payloads.deleted_file_payload(row)
    assert deleted == {"data_id": row.pk, "filename": row.filename, "sloc": row.sloc}
    valid(event("user.data.deleted", user.pk, deleted))


def test_the_read_payloads_are_valid_where_they_are_built(user):
    built = {
        "user.read": payloads.user_read_payload(user_id=user.pk),
        "user.searched": payloads.user_searched_payload(email="ali", found=1),
        "user.data.searched": payloads.data_searched_payload(found=0),
    }
    assert set(built) == set(payloads.READ_PAYLOADS)
    for event_type, data in built.items():
        valid(event(event_type, user.pk, data))


def test_the_erased_payload_is_the_id_alone(user):
    data = payloads.erased_payload(user_id=user.pk)
    assert data == {"user_id": user.pk}
    valid(event("user.erased", user.pk, data))
    assert problems(json.dumps(event("user.erased", user.pk, payloads.user_payload(user))))


def test_the_session_check_judges_user_erased_and_skips_the_tombstone(user, kafka):
    announce_erased(user.pk)
    erased, tombstone = OutboxEvent.objects.order_by("id")
    assert (erased.event_type, tombstone.event_type) == ("user.erased", TOMBSTONE)
    assert str(erased.event_id) in event_contract.candidates
    assert str(tombstone.event_id) not in event_contract.candidates


def test_the_login_failed_stand_in_builds_without_times():
    """auth's stand-in for an unknown address is never saved (its event is rolled back),
    yet its payload must build: the same work either way."""
    shape = payloads.user_payload(User(pk=0, email="nobody@example.com"))
    assert shape["created_at"] is None and shape["updated_at"] is None


def test_the_events_do_not_use_the_apis_serializers():
    for path in (BASE_DIR / "kafka_events").rglob("*.py"):
        text = path.read_text()
        assert "users.serializers" not in text and "userdata.serializers" not in text, path


def test_the_schemas_are_served_unauthenticated_and_cacheable(api, settings):
    index = api.get("/events/schemas", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert index.status_code == 200
    assert index["Content-Type"] == "application/json"
    assert "public" in index["Cache-Control"]
    urls = index.json()["schemas"]
    assert set(urls) == set(SCHEMAS)
    for event_type, versions in SCHEMAS.items():
        assert set(urls[event_type]) == {str(version) for version in versions}
        for version, schema in versions.items():
            url = urls[event_type][str(version)]
            assert url == f"{settings.PUBLIC_BASE_URL}/events/schemas/{event_type}/v{version}.json"
            served = api.get(url.removeprefix(settings.PUBLIC_BASE_URL))
            assert served.status_code == 200
            assert served["Content-Type"] == "application/schema+json"
            assert "public" in served["Cache-Control"]
            assert served.json() == {"$id": url, **schema}
    assert api.get("/events/schemas/user.created/v9.json").status_code == 404


def test_docs_list_every_schema():
    docs = (BASE_DIR / "docs" / "api.md").read_text()
    for event_type, versions in SCHEMAS.items():
        for version in versions:
            row = f"| `{event_type}` | {version} | `/events/schemas/{event_type}/v{version}.json` |"
            assert row in docs, row
