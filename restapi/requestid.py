"""The current request's id, for log lines (restapi/logformat.py). No Django imports."""

import re
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Also kept on the request (in its WSGI environ), for what Django logs about a request
# once the middleware has returned (its "Service Unavailable: /path" line of a 5xx).
REQUEST_ID_META = "restapi.request_id"
