import logging
import sys
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from restapi.logformat import formatter, log_format, log_uncaught_exceptions


class ServiceLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's own log and its access log in the service's format (LOG_FORMAT); one
    access line per request, its fields as the record's extra fields.

    The path is logged without its query string: verification links carry single-use
    tokens there.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # The master has no Django: what else it logs (warnings, an uncaught exception)
        # goes through the root logger in the same format. A worker's Django replaces it.
        root = logging.getLogger()
        if not root.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(formatter(log_format()))
            root.addHandler(handler)
        logging.captureWarnings(True)
        log_uncaught_exceptions()

    def _set_handler(self, log: logging.Logger, output: Any, fmt: Any, stream: Any = None) -> None:
        super()._set_handler(log, output, formatter(log_format()), stream)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_line(
            request_id=atoms.get("{x-request-id}o") or None,
            remote=atoms["h"],
            method=atoms["m"],
            path=atoms["U"],
            protocol=atoms["H"],
            status=int(atoms["s"]),
            size=atoms["B"] or 0,
            milliseconds=atoms["D"] / 1000,
            user_agent=atoms["a"],
        )

    def refusal(self, *, remote: str, head: bytes, status: int, size: int, seconds: float) -> None:
        """The access line of a request the worker answered itself, before any thread
        took it (a late or malformed head, a late body): `head` is what had arrived."""
        if not self.access_log_enabled:
            return
        method, _, rest = head.partition(b"\r\n")[0].decode("latin-1").partition(" ")
        target, _, protocol = rest.partition(" ")
        self.access_line(
            request_id=None,
            remote=remote,
            method=method,
            path=target.partition("?")[0],
            protocol=protocol,
            status=status,
            size=size,
            milliseconds=seconds * 1000,
            user_agent="",
        )

    def access_line(
        self,
        *,
        request_id: str | None,
        remote: str,
        method: str,
        path: str,
        protocol: str,
        status: int,
        size: int,
        milliseconds: float,
        user_agent: str,
    ) -> None:
        duration_ms = round(milliseconds, 3)
        self.access_log.info(
            "%s %s %s %s B %s ms",
            method,
            path,
            status,
            size,
            duration_ms,
            extra={
                "request_id": request_id,
                "remote": remote,
                "method": method,
                "path": path,
                "protocol": protocol,
                "status": status,
                "bytes": size,
                "duration_ms": duration_ms,
                "user_agent": user_agent,
            },
        )

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        # A client that stalls past API_READ_TIMEOUT_SECONDS is closed on purpose
        # (restapi/gunicorn_worker.py): one line, not a traceback per connection.
        if msg.startswith("Socket error") and isinstance(sys.exc_info()[1], TimeoutError):
            self.info("Closed a connection that stalled mid-request")
            return
        super().exception(msg, *args, **kwargs)
