import json
import sys
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger


class JsonAccessLogger(Logger):
    """One JSON object per request, with the request id the service returned.

    The path is logged without its query string: verification links carry single-use
    tokens there.
    """

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        record = {
            "time": atoms["t"],
            "request_id": atoms.get("{x-request-id}o", ""),
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "protocol": atoms["H"],
            "status": int(atoms["s"]),
            "bytes": atoms["B"] or 0,
            "duration_ms": round(atoms["D"] / 1000, 3),
            "user_agent": atoms["a"],
        }
        self.access_log.info(json.dumps(record))

    def refusal(self, *, remote: str, head: bytes, status: int, size: int, seconds: float) -> None:
        """The access line of a request the worker answered itself, before any thread
        took it (a late or malformed head, a late body): `head` is what had arrived."""
        if not self.access_log_enabled:
            return
        method, _, rest = head.partition(b"\r\n")[0].decode("latin-1").partition(" ")
        target, _, protocol = rest.partition(" ")
        record = {
            "time": self.now(),
            "request_id": "",
            "remote": remote,
            "method": method,
            "path": target.partition("?")[0],
            "protocol": protocol,
            "status": status,
            "bytes": size,
            "duration_ms": round(seconds * 1000, 3),
            "user_agent": "",
        }
        self.access_log.info(json.dumps(record))

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        # A client that stalls past API_READ_TIMEOUT_SECONDS is closed on purpose
        # (restapi/gunicorn_worker.py): one line, not a traceback per connection.
        if msg.startswith("Socket error") and isinstance(sys.exc_info()[1], TimeoutError):
            self.info("Closed a connection that stalled mid-request")
            return
        super().exception(msg, *args, **kwargs)
