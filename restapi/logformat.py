"""One format for every log line the service writes: the application's (Django's logging),
gunicorn's own and its access log, and the emails the console backend prints.

LOG_FORMAT=json (the default with DEBUG=0) makes each line one JSON object, built by
python-json-logger: `time` (ISO 8601, UTC), `level`, `logger`, `request_id` (null outside
a request), `message`, then the record's extra fields (the access log's method, path,
status...) and `exc_info` (a traceback, as one string). LOG_FORMAT=text (the default in
development) is the same fields as one readable line.

No Django imports: gunicorn's config uses this before Django is set up.
"""

import logging
import logging.config
import sys
import threading
import time
from types import TracebackType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

from restapi.env import env_bool, env_str
from restapi.requestid import REQUEST_ID, REQUEST_ID_META

FORMATS = ("json", "text")
# Record attributes never written out: the request object Django's loggers attach would be
# printed with its query string (verification links carry tokens there); the request id
# has a field of its own.
NOT_LOGGED = ("request", "server_time", "request_id", "taskName")


def log_format() -> str:
    value = env_str("LOG_FORMAT").strip().lower()
    if not value:
        return "text" if env_bool("DEBUG", default=True) else "json"
    if value not in FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {value!r}")
    return value


def utc_time(created: float) -> str:
    """ISO 8601 in UTC with milliseconds: 2026-12-01T17:48:03.123Z."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def request_id_of(record: logging.LogRecord) -> str | None:
    """The id given with the record (the access log's, read from the response) or with
    the request the record is about (Django's), else that of the request this thread is
    serving."""
    request_meta = getattr(getattr(record, "request", None), "META", {})
    return (
        getattr(record, "request_id", None) or request_meta.get(REQUEST_ID_META) or REQUEST_ID.get()
    )


class JsonFormatter(LibraryJsonFormatter):
    def __init__(self) -> None:
        super().__init__(reserved_attrs=[*RESERVED_ATTRS, *NOT_LOGGED])

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = utc_time(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["request_id"] = request_id_of(record)
        log_data["message"] = record.message
        super().add_fields(log_data, record, message_dict)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_time(record.created)

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The record is left as it is: another handler may format it too.
        return TEXT_FORMAT % {**vars(record), "request_id": request_id_of(record) or "-"}


def formatter(name: str) -> logging.Formatter:
    return JsonFormatter() if name == "json" else TextFormatter()


def _log_uncaught(
    kind: type[BaseException], value: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("restapi.uncaught").critical(
        "Uncaught exception", exc_info=(kind, value, traceback)
    )


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    # SystemExit ends a thread quietly, as Python's own hook has it.
    if args.exc_value is not None and args.exc_type is not SystemExit:
        logging.getLogger("restapi.uncaught").error(
            "Uncaught exception in thread %s",
            args.thread.name if args.thread else "?",
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )


def log_uncaught_exceptions() -> None:
    """Python prints an uncaught exception's traceback to stderr as many plain lines; as a
    log record it is one line in the service's format."""
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def configure(config: dict[str, Any]) -> None:
    """LOGGING_CONFIG: Django's logging, and uncaught exceptions through it."""
    logging.config.dictConfig(config)
    log_uncaught_exceptions()
