"""A small blocking HTTP client for setting a run up (accounts, files) and for transfers."""

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

from bench.services import HOST, BenchError, Server

PASSWORD = "bench password 123"


@dataclass(frozen=True)
class Account:
    email: str
    user_id: int
    token: str


class Client:
    def __init__(self, server: Server, tls: ssl.SSLContext | None, timeout: float = 60) -> None:
        self.server, self.tls, self.timeout = server, tls, timeout
        self.conn: http.client.HTTPConnection | None = None

    def connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            if self.server.tls:
                self.conn = http.client.HTTPSConnection(
                    HOST, self.server.port, context=self.tls, timeout=self.timeout
                )
            else:
                self.conn = http.client.HTTPConnection(HOST, self.server.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request; a JSON body in and out when there is one."""
        sent = dict(headers or {})
        data: bytes | None = None
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if token:
            sent["Authorization"] = f"Bearer {token}"
        conn = self.connection()
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw

    def expect(self, status: int, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        got, answer = self.call(method, path, body, **kw)
        if got != status:
            raise BenchError(f"{method} {path}: {got} (wanted {status}): {str(answer)[:500]}")
        return answer

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.call("GET", path)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.server.name} never answered 200 on {path}")
            time.sleep(0.2)

    def register(self, email: str) -> Account:
        answer = self.expect(201, "POST", "/user", {"email": email, "password": PASSWORD})
        return Account(email, int(answer["user_id"]), str(answer["token"]))

    def login(self, email: str) -> Account:
        answer = self.expect(201, "POST", "/login", {"email": email, "password": PASSWORD})
        return Account(email, int(answer["user_id"]), str(answer["token"]))
