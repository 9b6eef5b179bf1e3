"""User-file transfers when storage hangs or the client fails, through the real gunicorn
over TLS. A hung S3 is a loopback listener of our own that accepts connections and never
answers; the other server stores in the moto S3 server."""

import http.client
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings

from tests.fixtures.server import Server, running_server, server_env
from tests.fixtures.storage import S3_BUCKET, S3_CREDENTIALS, s3_client
from tests.helpers import file_row, tokens_for
from tests.userdata.hung_storage import SilentEndpoint
from userdata.models import UserFile

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024
# The documented default deadline for a storage that stops answering.
DEADLINE_SECONDS = 15


@contextmanager
def file_server(
    tmp_path: Path, jwt_keys: tuple[Path, Path], s3_endpoint: str, **extra: str
) -> Iterator[Server]:
    """One gunicorn worker (8 threads, the default) on the test database, storing in S3 at
    `s3_endpoint`, with `extra` settings."""
    env = {
        **server_env(jwt_keys, s3_endpoint, None, tmp_path),
        **S3_CREDENTIALS,
        "API_WORKERS": "1",
        **extra,
    }
    with running_server(env, tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def silent_s3() -> Iterator[SilentEndpoint]:
    endpoint = SilentEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def hung_server(
    django_db_setup: None,
    jwt_keys: tuple[Path, Path],
    silent_s3: SilentEndpoint,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """Storage settings at their defaults, S3 hung."""
    with file_server(tmp_path_factory.mktemp("hung"), jwt_keys, silent_s3.url) as server:
        yield server


@pytest.fixture(scope="module")
def moto_server(
    django_db_setup: None,
    jwt_keys: tuple[Path, Path],
    s3_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """A stalled client is given up on after 1 s; one storage transfer at a time."""
    with file_server(
        tmp_path_factory.mktemp("moto"),
        jwt_keys,
        s3_endpoint,
        API_READ_TIMEOUT_SECONDS="1",
        USER_DATA_MAX_TRANSFERS="1",
    ) as server:
        yield server


@pytest.fixture
def token(user: Any) -> str:
    return tokens_for(user).token


def upload(server: Server, token: str, body: bytes = b"hello") -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = server.session().post(
        f"{server.url}/user/data",
        data=body,
        headers={"Authorization": f"Bearer {token}", "filename": "f.bin"},
        timeout=DEADLINE_SECONDS * 4,
    )
    return response, time.monotonic() - started


def download(server: Server, token: str, data_id: int) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = server.session().get(
        f"{server.url}/user/data/{data_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=DEADLINE_SECONDS * 4,
    )
    return response, time.monotonic() - started


def stored_row(user: Any) -> UserFile:
    """A file row whose object would be in the (hung) storage."""
    return file_row(
        user,
        key=f"{settings.S3_DATA_PREFIX}/{user.pk}/2026/01/01/{os.urandom(16).hex()}",
        sloc="s3://restapi-test/x",
        filename="f.bin",
        size_in_bytes=5,
        content_type="application/octet-stream",
    )


def assert_json_503(response: requests.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == code


def probes_while(server: Server, busy: threading.Event) -> list[float]:
    """Seconds each /health/live probe took (a new connection each, as a kubelet makes),
    inf for one that failed, until `busy` clears."""
    took = []
    while busy.is_set():
        started = time.monotonic()
        try:
            ok = server.session().get(f"{server.url}/health/live", timeout=5).status_code == 200
        except requests.RequestException:
            ok = False
        took.append(time.monotonic() - started if ok else float("inf"))
        time.sleep(0.2)
    return took


@pytest.mark.parametrize("size", [5, 16 * MIB], ids=["small", "multipart"])
def test_an_upload_to_a_hung_storage_fails_within_the_deadline(hung_server, silent_s3, token, size):
    contacted = len(silent_s3.accepted)
    response, took = upload(hung_server, token, b"u" * size)
    print(f"\n{size}-byte upload against a hung S3 answered in {took:.1f} s")
    assert_json_503(response, "storage_unavailable")
    assert took < DEADLINE_SECONDS
    assert len(silent_s3.accepted) > contacted
    assert not UserFile.objects.exists()


def test_a_download_from_a_hung_storage_fails_within_the_deadline(hung_server, user, token):
    response, took = download(hung_server, token, stored_row(user).pk)
    print(f"\ndownload against a hung S3 answered in {took:.1f} s")
    assert_json_503(response, "storage_unavailable")
    assert took < DEADLINE_SECONDS


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_hung_transfers_from_one_token_leave_health_answering(hung_server, user, token, direction):
    data_id = stored_row(user).pk
    busy = threading.Event()
    busy.set()

    def transfer(_: int) -> tuple[requests.Response, float]:
        if direction == "upload":
            return upload(hung_server, token)
        return download(hung_server, token, data_id)

    with ThreadPoolExecutor(1) as prober:
        probes = prober.submit(probes_while, hung_server, busy)
        try:
            with ThreadPoolExecutor(16) as clients:
                results = list(clients.map(transfer, range(16)))
        finally:
            busy.clear()
        took = probes.result()
    print(
        f"\n16 hung {direction}s: {len(took)} probes, slowest {max(took):.2f} s; "
        f"answers in {', '.join(f'{t:.1f}' for _, t in results)} s"
    )
    assert len(took) >= 10
    assert max(took) < 1
    codes = [response.json()["code"] for response, _ in results]
    assert 1 <= codes.count("storage_unavailable") <= 3
    for response, seconds in results:
        if response.json()["code"] == "overloaded":
            assert_json_503(response, "overloaded")
            assert seconds < 2
        else:
            assert_json_503(response, "storage_unavailable")
            assert seconds < DEADLINE_SECONDS


def raw_tls(server: Server) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(server.ca))
    sock = socket.create_connection(("127.0.0.1", urlsplit(server.url).port), timeout=30)
    return context.wrap_socket(sock, server_hostname="localhost")


def upload_head(token: str, length: int) -> bytes:
    return (
        "POST /user/data HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {token}\r\nfilename: part.bin\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def read_response(sock: ssl.SSLSocket) -> tuple[int, dict[str, str], dict[str, Any]]:
    response = http.client.HTTPResponse(sock)  # type: ignore[arg-type]
    response.begin()
    return response.status, dict(response.getheaders()), json.loads(response.read())


def test_over_the_cap_an_upload_is_refused_before_its_body_is_read(hung_server, token):
    """Three uploads hang on storage; the next one sends only its headers."""
    with ThreadPoolExecutor(3) as clients:
        hung = [clients.submit(upload, hung_server, token) for _ in range(3)]
        time.sleep(2)
        with raw_tls(hung_server) as sock:
            started = time.monotonic()
            sock.sendall(upload_head(token, 64 * MIB))
            status, headers, body = read_response(sock)
            took = time.monotonic() - started
        assert all(future.result()[0].status_code == 503 for future in hung)
    assert (status, body["code"]) == (503, "overloaded")
    assert headers["Content-Type"] == "application/json" and "Retry-After" in headers
    assert took < 2


def leftovers(server: Server, user: Any) -> tuple[list[str], list[str]]:
    client = s3_client(server.env["S3_ENDPOINT_URL"])
    prefix = f"{settings.S3_DATA_PREFIX}/{user.pk}/"
    stored = client.list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix).get("Contents", [])
    parts = client.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=prefix).get("Uploads", [])
    return [item["Key"] for item in stored], [item["Key"] for item in parts]


def log_after(server: Server, start: int, text: str, timeout: float = 20) -> str:
    """What the server logged from offset `start`, once it contains `text`."""
    deadline = time.monotonic() + timeout
    while text not in (log := server.log.read_text()[start:]):
        assert time.monotonic() < deadline, f"{text!r} never reached the log:\n{log}"
        time.sleep(0.05)
    return log


@pytest.mark.parametrize("length", [64 * 1024, 20 * MIB], ids=["small", "multipart"])
def test_a_client_that_stalls_mid_body_gets_408(moto_server, user, token, length):
    start = len(moto_server.log.read_text())
    with raw_tls(moto_server) as sock:
        sock.sendall(upload_head(token, length) + b"s" * (length // 2))
        status, headers, body = read_response(sock)
    assert (status, body["code"]) == (408, "request_timeout"), body
    assert headers["Content-Type"] == "application/json"
    log = log_after(moto_server, start, '"status": 408')
    assert not UserFile.objects.filter(user=user).exists()
    assert leftovers(moto_server, user) == ([], [])
    assert "storage" not in log.lower() and "Traceback" not in log


@pytest.mark.parametrize(
    ("length", "logged"),
    [
        # Up to 1 MiB the worker's loop holds the body, so the request never starts.
        (64 * 1024, "left before its request body was complete"),
        (20 * MIB, '"status": 400'),
    ],
    ids=["small", "multipart"],
)
def test_a_client_that_sends_half_and_closes_leaves_nothing(
    moto_server, user, token, length, logged
):
    start = len(moto_server.log.read_text())
    with raw_tls(moto_server) as sock:
        sock.sendall(upload_head(token, length) + b"h" * (length // 2))
    log = log_after(moto_server, start, logged)
    assert not UserFile.objects.filter(user=user).exists()
    assert leftovers(moto_server, user) == ([], [])
    assert "storage" not in log.lower() and "Traceback" not in log


def test_a_download_holds_its_slot_until_its_client_goes_away(moto_server, user, token):
    start = len(moto_server.log.read_text())
    created, _ = upload(moto_server, token, b"d" * (8 * MIB))
    assert created.status_code == 201, created.text
    data_id = created.json()["data_id"]
    reading = threading.Event()
    reading.set()
    with raw_tls(moto_server) as sock:
        sock.sendall(
            f"GET /user/data/{data_id} HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        assert sock.recv(64 * 1024).startswith(b"HTTP/1.1 200")

        def read_slowly() -> None:  # a slow client: the body keeps streaming
            while reading.is_set():
                sock.recv(16 * 1024)
                time.sleep(0.02)

        reader = threading.Thread(target=read_slowly)
        reader.start()
        try:
            busy, took = upload(moto_server, token)
        finally:
            reading.clear()
            reader.join()
    assert_json_503(busy, "overloaded")
    assert took < 2
    # The client has gone away mid-body: its slot comes back.
    deadline = time.monotonic() + 10
    while (response := upload(moto_server, token)[0]).status_code == 503:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)
    assert response.status_code == 201, response.text
    log = moto_server.log.read_text()[start:]
    assert "storage" not in log.lower() and "Traceback" not in log
