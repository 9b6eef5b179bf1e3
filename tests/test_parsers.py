"""JSON bodies nested deeper than JSON_MAX_DEPTH are a 400, wherever the nesting is."""

import gc
import io
import json
import statistics
import time

import pytest

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


# Bodies of 1 MiB (the largest accepted) built to be slow for the check: many brackets,
# many strings holding brackets, escapes, nesting that is just allowed and wide.
HOSTILE = {
    "open brackets": b"[" * MiB,
    "many empty arrays": fill(b"[", b"[],", b"[]]"),
    "strings with brackets": fill(b"[", b'"[",', b'""]'),
    "escapes and brackets": fill(b"[", b'"\\"[\\\\",', b'""]'),
    "32 levels, wide": fill(b"[", b"[" * 31 + b"]" * 31 + b",", b"[]]"),
    "objects": fill(b"[", b'{"a":{}},', b"{}]"),
}


def timed(work, *args):
    started = time.perf_counter()
    work(*args)
    return time.perf_counter() - started


def parse(body):
    return JSONParser().parse(io.BytesIO(body))


def loads_without_collector(body):
    gc.disable()
    try:
        json.loads(body)
    finally:
        gc.enable()


# Timings are medians of interleaved rounds, so a loaded machine slows both sides alike.


def test_no_check_costs_more_than_parsing_the_costliest_allowed_body():
    allowed = HOSTILE["32 levels, wide"]
    parses, checks = [], {name: [] for name in HOSTILE}
    for _ in range(5):
        parses.append(timed(parse, allowed))
        for name, body in HOSTILE.items():
            checks[name].append(timed(nested_deeper_than, body, 32))
    for name, times in checks.items():
        assert statistics.median(times) < statistics.median(parses), name


def test_parsing_does_not_pay_for_the_garbage_collector():
    """Without the pause, the collector's full runs over this big test process made
    parsing half a million small arrays ~10 times slower than the parse itself."""
    allowed = HOSTILE["32 levels, wide"]
    parses, plain = [], []
    for _ in range(5):
        parses.append(timed(parse, allowed))
        plain.append(timed(loads_without_collector, allowed))
    assert statistics.median(parses) < 4 * statistics.median(plain)
    assert gc.isenabled()
