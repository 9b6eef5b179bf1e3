"""The suite's log scan: the secrets the tests use (passwords, tokens, one-time codes) are
recorded as they pass, and at the end no log line the suite produced — every server's
log file and this process's logging — may hold one of them, or any password hash."""

import contextlib
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

# JSON fields and query parameters whose values are secrets.
SECRET_FIELDS = {
    "password",
    "current_password",
    "token",
    "refresh",
    "mfa_token",
    "code",
    "recovery_code",
    "recovery_codes",
    "secret",
    "t",
}
HASH_MARKERS = ("$argon2", "pbkdf2_sha256$", "bcrypt_sha256$", "scrypt$")
# Shorter values (a "t" of "x") would match log text by chance.
MIN_SECRET_LENGTH = 8


class LogScan:
    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.logs: list[Path] = []
        self.lines: list[str] = []

    def add(self, value: Any) -> None:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)
        elif isinstance(value, list):
            for item in value:
                self.add(item)

    def add_fields(self, data: Any) -> None:
        if isinstance(data, dict):
            for name, value in data.items():
                if name in SECRET_FIELDS:
                    self.add(value)
                self.add_fields(value)
        elif isinstance(data, list):
            for item in data:
                self.add_fields(item)

    def add_json(self, body: bytes | str | None) -> None:
        # Not JSON (an uploaded file), or JSON too deep to parse (an attack under test).
        with contextlib.suppress(ValueError, RecursionError):
            self.add_fields(json.loads(body or "null"))

    def record_exchange(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A requests response hook: what went out and what came back."""
        request = response.request
        self.add(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if isinstance(request.body, bytes | str):
            self.add_json(request.body)
        for name, values in parse_qs(urlsplit(request.url or "").query).items():
            if name in SECRET_FIELDS:
                self.add(values)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            self.add_json(response.content)

    def findings(self) -> list[str]:
        sources = [(str(path), path.read_text(errors="replace")) for path in self.logs]
        sources.append(("this process's logging", "\n".join(self.lines)))
        found = []
        for where, text in sources:
            found += [
                f"{where}: a secret starting {secret[:4]!r}"
                for secret in self.secrets
                if secret in text
            ]
            found += [
                f"{where}: a password hash ({marker})" for marker in HASH_MARKERS if marker in text
            ]
        return found


scan = LogScan()


class CaptureHandler(logging.Handler):
    """Keeps every log line of this process, formatted as the service formats them."""

    def emit(self, record: logging.LogRecord) -> None:
        scan.lines.append(self.format(record))
