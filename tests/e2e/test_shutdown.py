"""Graceful shutdown of the real gunicorn: a request in flight at SIGTERM is answered.

A module of its own: the test stops this module's server."""

import os
import signal
import socket
import ssl
import time

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


def test_sigterm_lets_the_request_in_flight_finish(server):
    token = server.register("late@example.com")

    body = b"0123456789" * 3
    context = ssl.create_default_context(cafile=str(server.ca))
    port = int(server.url.rsplit(":", 1)[1])
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost"
    ) as upload:
        upload.sendall(
            b"POST /user/data HTTP/1.1\r\nHost: localhost\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"filename: late.txt\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.5)
        os.kill(server.pid, signal.SIGTERM)  # mid-body
        for part in (body[10:20], body[20:]):
            time.sleep(0.5)
            upload.sendall(part)
        answer = b""
        while chunk := upload.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert b'"size_in_bytes": 30' in answer or b'"size_in_bytes":30' in answer

    log = server.log_after("Shutting down: Master", timeout=60)
    assert "Traceback" not in log
    with pytest.raises(requests.ConnectionError):
        server.session().get(f"{server.url}/health/live", timeout=5)
