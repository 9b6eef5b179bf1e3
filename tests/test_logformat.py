"""The log formats of restapi/logformat.py, record by record (the real server's streams are
checked in tests/e2e/test_logs.py)."""

import json
import logging
import os
import subprocess
import sys
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from restapi.logformat import JsonFormatter, TextFormatter, log_format, log_uncaught_exceptions
from restapi.requestid import REQUEST_ID
from tests.helpers import BASE_DIR


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("restapi.test", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    made.created = 1796147283.5  # 2026-12-01T17:48:03.5Z
    return made


def test_a_json_line_has_the_fields_and_the_extras():
    token = REQUEST_ID.set("req-1")
    try:
        line = JsonFormatter().format(record("hello %s", "world", status_code=503))
    finally:
        REQUEST_ID.reset(token)
    assert json.loads(line) == {
        "time": "2026-12-01T17:48:03.500Z",
        "level": "WARNING",
        "logger": "restapi.test",
        "request_id": "req-1",
        "message": "hello world",
        "status_code": 503,
    }


def test_a_traceback_stays_on_one_json_line():
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("failed", exc_info=sys.exc_info())
    line = JsonFormatter().format(failed)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["request_id"] is None
    assert "ValueError: boom" in parsed["exc_info"]


class Request:
    """Django's loggers attach the request; printed, it shows the query string."""

    META = {"restapi.request_id": "from-the-request"}

    def __str__(self) -> str:
        return "<WSGIRequest: GET '/user/verify?t=secret-token'>"


def test_the_request_django_attaches_is_not_written_but_its_id_is():
    line = JsonFormatter().format(record("Bad Request: /user/verify", request=Request()))
    assert "secret-token" not in line
    assert json.loads(line)["request_id"] == "from-the-request"
    assert "secret-token" not in TextFormatter().format(record("x", request=Request()))


def test_text_is_one_readable_line():
    assert TextFormatter().format(record("hello %s", "world")) == (
        "2026-12-01T17:48:03.500Z WARNING [-] restapi.test hello world"
    )


def test_an_uncaught_exception_in_a_thread_is_a_log_record(caplog):
    previous = threading.excepthook, sys.excepthook
    log_uncaught_exceptions()
    try:
        thread = threading.Thread(target=lambda: 1 / 0, name="doomed")
        thread.start()
        thread.join()
    finally:
        threading.excepthook, sys.excepthook = previous
    [logged] = [r for r in caplog.records if r.name == "restapi.uncaught"]
    assert logged.getMessage() == "Uncaught exception in thread doomed"
    assert logged.exc_info[0] is ZeroDivisionError


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "0"}, "json"),
        ({"DEBUG": "1"}, "text"),
        ({"DEBUG": "1", "LOG_FORMAT": "JSON"}, "json"),
    ],
)
def test_the_format_follows_debug_unless_set(monkeypatch, env, expected):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert log_format() == expected


def test_an_unknown_format_is_refused(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        log_format()


def test_a_management_command_logs_json_too():
    """Django's own logging (manage.py, the relay) uses the same format."""
    code = "import logging; logging.getLogger('restapi.x').warning('from a command')"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=BASE_DIR,
        env={**os.environ, "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "from a command" in line]
    assert json.loads(line)["logger"] == "restapi.x"
