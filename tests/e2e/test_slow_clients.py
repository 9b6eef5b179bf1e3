"""Slow clients against the real gunicorn (2 workers x 8 threads): however many trickle
their headers or bodies, health probes are answered, each trickler gets a 408 at its
deadline, and an honest slow upload still succeeds."""

import hashlib
import socket
import ssl
import threading
import time

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)

TRICKLERS = 64  # of each kind: together 8 times the server's 16 threads
BYTE_EVERY_SECONDS = 3


def tls_connect(server) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(server.ca))
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return context.wrap_socket(sock, server_hostname="localhost")


class Tricklers:
    """Connections that send a request's start, then one byte every few seconds, each from
    its own point in the cycle, for as long as the server keeps them. They connect and
    trickle in a thread of their own, while the test probes."""

    def __init__(self, server, start: bytes, count: int) -> None:
        self.server, self.start, self.count = server, start, count
        self.socks: list[ssl.SSLSocket] = []
        self.answers: dict[int, bytes] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        for _ in range(self.count):
            try:
                sock = tls_connect(self.server)
                sock.sendall(self.start)
            except OSError:
                continue  # the server did not even take the connection
            self.socks.append(sock)
        step = BYTE_EVERY_SECONDS / self.count
        while not self.stop.is_set() and len(self.answers) < len(self.socks):
            for number, sock in enumerate(self.socks):
                if number in self.answers or self.stop.wait(step):
                    continue
                try:
                    sock.send(b"a")
                except OSError:
                    self.answers[number] = self.read_answer(sock)

    @staticmethod
    def read_answer(sock: ssl.SSLSocket) -> bytes:
        sock.settimeout(5)
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except OSError:
            pass
        return answer

    def collect(self, timeout: float) -> list[bytes]:
        """Waits for the server to end every connection; what each one was told."""
        self.stop.set()
        self.thread.join(timeout)
        deadline = time.monotonic() + timeout
        for number, sock in enumerate(self.socks):
            if number not in self.answers:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                self.answers[number] = self.read_answer(sock)
            sock.close()
        return [self.answers.get(number, b"") for number in range(self.count)]


def probe_until(server, stop_at: float) -> list[float]:
    """GET /health/live on a new connection every 0.2 s; each one's time (inf if it failed)."""
    times = []
    while time.monotonic() < stop_at:
        started = time.monotonic()
        try:
            response = requests.get(
                f"{server.url}/health/live",
                verify=str(server.ca),
                headers={"Connection": "close"},
                timeout=5,
            )
            ok = response.status_code == 200
        except requests.RequestException:
            ok = False
        times.append(time.monotonic() - started if ok else float("inf"))
        time.sleep(0.2)
    return times


def test_trickled_heads_and_bodies_cannot_stall_the_service(server):
    started = time.monotonic()
    heads = Tricklers(
        server, b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", TRICKLERS
    )
    bodies = Tricklers(
        server,
        b"POST /user/password/change HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        TRICKLERS,
    )
    # Past both deadlines: the head's 10 s, and the body's 10 s + 100000 B at 16 KiB/s.
    probes = probe_until(server, started + 20)
    answered = sum(1 for seconds in probes if seconds < 1)
    print(f"\n{answered} of {len(probes)} probes answered within 1 s during the slow clients")
    assert len(probes) > 50
    assert answered == len(probes)
    for tricklers in (heads, bodies):
        answers = tricklers.collect(timeout=10)
        assert {answer.split(b"\r\n", 1)[0] for answer in answers} == {
            b"HTTP/1.1 408 Request Timeout"
        }
        assert all(b'"code":"request_timeout"' in answer for answer in answers)


class PacedBody:
    """`size` bytes sent at `rate` bytes per second, in 64 KiB pieces."""

    def __init__(self, size: int, rate: int) -> None:
        self.size, self.rate, self.sent = size, rate, 0
        self.digest = hashlib.sha256()
        self.started = time.monotonic()

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        ahead = self.sent / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)
        data = bytes([self.sent % 251]) * min(64 * 1024, self.size - self.sent)
        self.sent += len(data)
        self.digest.update(data)
        return data


def test_an_honest_slow_upload_succeeds(server):
    token = server.register("slow-upload@example.com")
    body = PacedBody(8 * 1024 * 1024, rate=1_000_000)
    response = server.session().post(
        f"{server.url}/user/data",
        data=body,
        headers={"Authorization": f"Bearer {token}", "filename": "slow.bin"},
    )
    elapsed = time.monotonic() - body.started
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == body.digest.hexdigest()
    assert elapsed > 7  # it really was paced


def test_a_json_body_sent_slowly_but_above_the_minimum_rate_is_served(server):
    """300 KB at 24 KiB/s takes longer than the body grace (10 s) but keeps the rate."""
    body = b'{"email": "steady@example.com", "password": "' + b"p" * 300_000 + b'"}'
    with tls_connect(server) as sock:
        sock.sendall(
            b"POST /user HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        started = time.monotonic()
        for offset in range(0, len(body), 6144):
            sock.sendall(body[offset : offset + 6144])
            time.sleep(0.25)
        answer = Tricklers.read_answer(sock)
        assert time.monotonic() - started > 10
    # Too long for the password rules: the body arrived whole and was judged on its content.
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b'"code":"validation_error"' in answer
