"""HTTP/1.1 as the worker (restapi/gunicorn_worker.py) speaks it, on a small server of its
own: its own refusals are JSON, a body it will not read closes the connection, pipelined
and Expect: 100-continue requests work, and closing connections never block the loop."""

import json
import shutil
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.test_gunicorn import SmallServer, gunicorn
from tests.fixtures.server import dev_tls_assets


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallServer]:
    with gunicorn(tmp_path_factory.mktemp("small"), API_WORKERS="1", API_THREADS="4") as server:
        yield server


def connect(server: SmallServer) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=server.ca)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return context.wrap_socket(sock, server_hostname="localhost")


class Reader:
    """Reads responses off a socket, one at a time (Content-Length or chunked bodies)."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock, self.data = sock, b""

    def until(self, marker: bytes) -> bytes:
        while marker not in self.data:
            chunk = self.sock.recv(4096)
            assert chunk, f"connection closed after {self.data!r}"
            self.data += chunk
        found, _, self.data = self.data.partition(marker)
        return found

    def exactly(self, size: int) -> bytes:
        while len(self.data) < size:
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed mid-body"
            self.data += chunk
        found, self.data = self.data[:size], self.data[size:]
        return found

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line, *lines = self.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self.until(b"\r\n"), 16):
                body += self.exactly(size)
                self.until(b"\r\n")
            self.until(b"\r\n")
        else:
            body = self.exactly(int(headers.get("content-length", 0)))
        return int(status_line.split()[1]), headers, body


def read_response(sock: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    return Reader(sock).response()


def exchange(server: SmallServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(server) as sock:
        sock.sendall(request)
        return read_response(sock)


def closes(sock: ssl.SSLSocket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)),
            431,
            "headers_too_large",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n",
            431,
            "headers_too_large",
        ),
        (b"NOT HTTP AT ALL\r\n", 400, "bad_request"),
        (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n", 400, "bad_request"),
        (
            b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n",
            411,
            "length_required",
        ),
    ],
    ids=["long-request-line", "many-headers", "huge-head", "garbage", "bad-length", "chunked"],
)
def test_the_servers_own_refusals_are_json(small, request_bytes, status, code):
    answer_status, headers, body = exchange(small, request_bytes + b"\r\n")
    assert answer_status == status
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body)["code"] == code


def test_a_response_sent_before_the_body_is_read_closes_the_connection(small):
    with connect(small) as sock:
        sock.sendall(
            b"POST /user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2000000\r\n\r\n" + b"{" * 1000
        )
        status, headers, _ = read_response(sock)
        assert status == 413
        assert headers["connection"] == "close"
        assert closes(sock)
    # A client library reuses nothing it was told to close: the next request just works.
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    http.verify = small.ca
    assert http.post(f"{small.url}/user", data=b"x" * 2_000_000).status_code == 413
    assert http.get(f"{small.url}/health/live").status_code == 200


def test_pipelined_requests_are_answered_in_order(small):
    with connect(small) as sock:
        sock.sendall(
            b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-ID: first\r\n\r\n"
            b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-ID: second\r\n\r\n"
        )
        reader = Reader(sock)
        ids = [reader.response()[1]["x-request-id"] for _ in range(2)]
    assert ids == ["first", "second"]


def test_expect_100_continue_gets_its_interim_answer(small):
    body = json.dumps({"email": "x@example.com", "password": "correct horse battery"}).encode()
    with connect(small) as sock:
        sock.sendall(
            b"POST /login/refresh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        sock.settimeout(5)
        reader = Reader(sock)
        assert reader.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue"
        sock.sendall(body)
        status, _, answer = reader.response()
        while status == 100:  # gunicorn may send its own interim answer as well
            status, _, answer = reader.response()
    assert status == 400  # no refresh token: the body was read and judged
    assert json.loads(answer)["code"] == "validation_error"


def test_connections_closing_slowly_do_not_block_the_loop(small):
    """Each refused connection is half-closed and drained for up to 2 s; doing that in
    the loop without waiting keeps every other client served."""
    held = []
    for _ in range(20):
        sock = connect(small)
        sock.sendall(b"POST /user HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
        held.append(sock)  # read nothing, close nothing
    started = time.monotonic()
    for _ in range(5):
        assert requests.get(f"{small.url}/health/live", verify=small.ca, timeout=5).ok
    assert time.monotonic() - started < 2
    for sock in held:
        sock.close()


def test_a_replaced_certificate_is_served_to_new_connections(tmp_path):
    with gunicorn(tmp_path, API_WORKERS="1") as server:
        first = ssl.DER_cert_to_PEM_cert(connect(server).getpeercert(binary_form=True))
        dev_tls_assets(tmp_path / "renewed")
        time.sleep(0.01)  # a different modification time, even on coarse clocks
        for name in ("api.crt", "api.key"):
            shutil.copy(tmp_path / "renewed" / "api" / name, server.tls / "api" / name)
        context = ssl.create_default_context(
            cafile=str(tmp_path / "renewed" / "api" / "api-ca.pem")
        )
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with context.wrap_socket(sock, server_hostname="localhost") as renewed:
            second = ssl.DER_cert_to_PEM_cert(renewed.getpeercert(binary_form=True))
    assert first != second
