"""JSON bodies nested deeper than JSON_MAX_DEPTH are a 400, wherever the nesting is."""

import gc
import io
import json

import pytest
from rest_framework.exceptions import ParseError

from restapi.parsers import JSONParser, nested_deeper_than
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024


def nested(depth: int, inner: str = "1") -> str:
    """Arrays and objects alternating, `depth` levels."""
    text = inner
    for level in range(depth):
        text = f'{{"k":{text}}}' if level % 2 else f"[{text}]"
    return text


def fill(prefix: bytes, unit: bytes, suffix: bytes, size: int = MiB) -> bytes:
    return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        (nested(32), False),
        (nested(33), True),
        ("[" * 1000 + "]" * 1000, True),
        ("[" * 100_000, True),
        # Brackets inside strings do not nest, escaped quotes do not end a string.
        ('["' + "[" * 100 + '"]', False),
        ('["\\"' + "[" * 100 + '"]', False),
        ('["\\\\", ' + nested(31) + "]", False),
        ('["\\\\", ' + nested(32) + "]", True),
        ("[" + ",".join([nested(31)] * 100) + "]", False),
        ("[" + ",".join([nested(31)] * 99 + [nested(32)]) + "]", True),
        ('{"a": "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{", "b": [[[[1]]]]}', False),
    ],
)
def test_nesting_is_measured_on_the_text(text, deeper):
    assert nested_deeper_than(text.encode(), 32) is deeper
    if not deeper:
        json.loads(text)


@pytest.mark.parametrize("route", ["/user", "/login", "/user/password/reset", "/login/refresh"])
def test_too_deep_bodies_are_400_on_every_json_route(api, route):
    for body in ("[" * 1000 + "]" * 1000, nested(33), "[" * 5000):
        response = api.post(route, body, content_type="application/json")
        body = assert_error(response, 400, "json_too_deep")
        assert "32" in body["msg"]


def test_free_form_values_have_the_limit_too(admin_client, settings):
    settings.KAFKA_TOPICS = ["testing"]
    settings.KAFKA_ENABLED = True  # else a valid message is refused (409 events_disabled)

    def publish(value):
        body = f'{{"topic": "testing", "value": {value}}}'
        return admin_client.post("/kafka/publish", body, content_type="application/json")

    # The body's own object is the first level.
    assert_error(publish(nested(32)), 400, "json_too_deep")
    assert publish(nested(31)).status_code == 202


def test_authenticated_routes_refuse_deep_bodies_too(user_client):
    response = user_client.post("/user/search", nested(40), content_type="application/json")
    assert_error(response, 400, "json_too_deep")


def test_other_charsets_are_measured_after_decoding(api):
    body = nested(40).encode("utf-16")
    response = api.post("/login", body, content_type="application/json; charset=utf-16")
    assert_error(response, 400, "json_too_deep")
    shallow = json.dumps({"email": "a@example.com"}).encode("utf-16")
    response = api.post("/login", shallow, content_type="application/json; charset=utf-16")
    assert "password" in assert_error(response, 400, "validation_error")["errors"]


@pytest.mark.parametrize("body", ["{not json", "[1, 2", '{"a": NaN}', b"\xff\xfe{}"])
def test_other_bad_bodies_are_still_malformed_json(api, body):
    assert_error(api.post("/login", body, content_type="application/json"), 400, "malformed_json")


def test_the_collector_runs_again_after_a_parse_and_after_a_refusal():
    JSONParser().parse(io.BytesIO(b"[" + b"[]," * 1000 + b"[]]"))
    assert gc.isenabled()
    with pytest.raises(ParseError):
        JSONParser().parse(io.BytesIO(b"[1, 2"))
    assert gc.isenabled()
