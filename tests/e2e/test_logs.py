"""With LOG_FORMAT=json every line the real server writes, on stdout and on stderr, is one
JSON object: gunicorn's own lines, the access log, the application's, its errors and the
emails of the console backend."""

import json
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures.server import Server, server_env, start_gunicorn, wait_for_https
from tests.fixtures.storage import S3_CREDENTIALS
from tests.helpers import PASSWORD, free_port

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = {"time", "level", "logger", "message", "request_id"}


@pytest.fixture
def streams(
    django_db_setup: None, jwt_keys: tuple[Path, Path], tmp_path: Path
) -> Iterator[tuple[Server, Path, Path]]:
    """A server logging JSON, mailing to the console, its stdout and stderr apart; storage
    is an S3 endpoint where nothing listens, so that uploads fail."""
    nothing_there = f"http://127.0.0.1:{free_port()}"
    env = {
        **server_env(jwt_keys, nothing_there, None, tmp_path),
        **S3_CREDENTIALS,
        "LOG_FORMAT": "json",
        "EMAIL_BACKEND": "restapi.mail.ConsoleEmailBackend",
        "S3_MAX_ATTEMPTS": "1",
    }
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    process = start_gunicorn(env, out, err)
    url = f"https://localhost:{env['API_ENDPOINT'].rsplit(':', 1)[1]}"
    ca = Path(env["API_TLS_CA"])
    try:
        wait_for_https(url, ca, process, err)
        yield Server(url=url, ca=ca, env=env, log=err, pid=process.pid), out, err
    finally:
        process.terminate()
        process.wait(timeout=30)


def records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    assert lines, f"{path.name} is empty"
    parsed = []
    for line in lines:
        record = json.loads(line)  # fails the test on any line that is not one object
        assert isinstance(record, dict), line
        assert record.keys() >= KEYS, line
        assert record["time"].endswith("Z"), line
        assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0), line
        parsed.append(record)
    return parsed


def malformed_request(server: Server) -> bytes:
    context = ssl.create_default_context(cafile=str(server.ca))
    port = int(server.url.rsplit(":", 1)[1])
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost"
    ) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_every_line_of_every_stream_is_a_json_object(streams):
    server, out, err = streams
    http = server.session()
    assert http.get(f"{server.url}/health/live", headers={"X-Request-ID": "logs-1"}).ok
    registered = http.post(
        f"{server.url}/user",
        json={"email": "logs@example.com", "password": PASSWORD},
        headers={"X-Request-ID": "logs-register"},
    )
    assert registered.status_code == 201, registered.text
    token = registered.json()["token"]
    failed = http.post(
        f"{server.url}/user/data",
        data=b"stored nowhere",
        headers={
            "Authorization": f"Bearer {token}",
            "filename": "a.txt",
            "X-Request-ID": "logs-s3",
        },
    )
    assert failed.status_code == 503
    assert http.get(f"{server.url}/no/such/path").status_code == 404
    assert malformed_request(server).startswith(b"HTTP/1.1 400 ")
    # Django's security logger is given the request: its query string must stay out.
    assert http.get(f"{server.url}/admin/login/").status_code == 200
    too_many = http.post(
        f"{server.url}/admin/login/?t=kept-out-of-logs",
        data="&".join(f"f{i}=1" for i in range(1100)),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": server.url,
            "X-CSRFToken": http.cookies["csrftoken"],
        },
    )
    assert too_many.status_code == 400
    server.log_after("Email to logs@example.com")
    server.log_after("TooManyFieldsSent")

    access = [r for r in records(out) if r["logger"] == "gunicorn.access"]
    assert {r["request_id"] for r in access} >= {"logs-1", "logs-register", "logs-s3"}
    health = next(r for r in access if r["request_id"] == "logs-1")
    assert (health["method"], health["path"], health["status"]) == ("GET", "/health/live", 200)
    assert health["duration_ms"] >= 0 and health["protocol"] == "HTTP/1.1"

    logged = records(err)
    mail = next(r for r in logged if r["logger"] == "restapi.mail")
    assert mail["request_id"] == "logs-register"
    assert mail["mail_to"] == ["logs@example.com"]
    assert "/user/verify?" in mail["message"]
    storage = next(r for r in logged if r["message"].startswith("Upload to storage failed"))
    assert (storage["level"], storage["request_id"]) == ("ERROR", "logs-s3")
    # Django's own line about the 503, written after the middleware has returned.
    unavailable = next(r for r in logged if r["logger"] == "django.request")
    assert (unavailable["status_code"], unavailable["request_id"]) == (503, "logs-s3")
    security = next(r for r in logged if r["logger"].startswith("django.security"))
    assert "Traceback" in security["exc_info"]
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in logged)
    assert any("Invalid request" in r["message"] for r in logged)
    assert "kept-out-of-logs" not in err.read_text() + out.read_text()
