"""gunicorn as restapi/gunicorn_conf.py sets it up, each test on a small server of its own:
stalled clients cannot take every thread, client certificates are required when asked
for, and the container's health check works either way."""

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.fixtures.server import dev_tls_assets, start_gunicorn
from tests.helpers import BASE_DIR, free_port, wait_for_port


@dataclass(frozen=True)
class SmallServer:
    port: int
    tls: Path
    env: dict[str, str]
    log: Path
    pid: int

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def ca(self) -> str:
        return str(self.tls / "api" / "api-ca.pem")


@contextmanager
def gunicorn(tmp_path: Path, **settings: str) -> Iterator[SmallServer]:
    tls = tmp_path / "tls"
    dev_tls_assets(tls)
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "API_ENDPOINT": f"127.0.0.1:{port}",
        "API_TLS_CERT": str(tls / "api" / "api.crt"),
        "API_TLS_KEY": str(tls / "api" / "api.key"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        **settings,
    }
    log = tmp_path / "gunicorn.log"
    process = start_gunicorn(env, log)
    try:
        wait_for_port(port, process, log)
        yield SmallServer(port=port, tls=tls, env=env, log=log, pid=process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def closed_by_server(sock: socket.socket) -> bytes:
    """What the server said before it closed the connection."""
    sock.settimeout(10)  # a TimeoutError here means the server still holds it
    said = b""
    try:
        while data := sock.recv(4096):
            said += data
    except (ConnectionError, ssl.SSLError):
        pass
    return said


def healthcheck(env: dict[str, str]) -> int:
    return subprocess.run(
        [sys.executable, "-m", "restapi.healthcheck"], cwd=BASE_DIR, env=env, timeout=30
    ).returncode


def test_stalled_clients_cannot_take_every_thread(tmp_path):
    with gunicorn(
        tmp_path, API_WORKERS="1", API_THREADS="2", API_HEADER_TIMEOUT_SECONDS="2"
    ) as server:
        stalled = []
        for _ in range(3):  # more than the threads: one byte of a TLS handshake, then nothing
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.send(b"\x16")
            stalled.append(sock)
        context = ssl.create_default_context(cafile=server.ca)
        for _ in range(3):  # a finished handshake, then half a request
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            tls_sock = context.wrap_socket(sock, server_hostname="localhost")
            tls_sock.send(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n")
            stalled.append(tls_sock)

        started = time.monotonic()
        response = requests.get(f"{server.url}/health/live", verify=server.ca, timeout=15)
        assert response.status_code == 200
        assert time.monotonic() - started < 10
        answers = [closed_by_server(sock) for sock in stalled]
        assert answers[:3] == [b""] * 3
        assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers[3:])
        log = server.log.read_text()
        assert log.count("that sent no request") == 3  # the handshakes
        assert log.count("The request head arrived too slowly") == 3
        assert "Traceback" not in log


def test_client_certificates_are_required_with_client_auth(tmp_path):
    ca = str(tmp_path / "tls" / "api" / "api-ca.pem")
    with gunicorn(tmp_path, API_TLS_CLIENT_AUTH="1", API_TLS_CA=ca) as server:
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{server.url}/health/live", verify=server.ca, timeout=10)
        client = (str(server.tls / "api" / "client.crt"), str(server.tls / "api" / "client.key"))
        response = requests.get(
            f"{server.url}/health/live", verify=server.ca, cert=client, timeout=10
        )
        assert response.status_code == 200
        # The container's health check has no client certificate: it checks the port.
        assert healthcheck(server.env) == 0
    assert healthcheck(server.env) == 1


def test_the_health_check_asks_for_an_allowed_host(tmp_path):
    with gunicorn(tmp_path) as server:
        assert healthcheck({**server.env, "DJANGO_ALLOWED_HOSTS": "api.example.com"}) == 0
    assert healthcheck(server.env) == 1


def unix_socket_paths(pid: int) -> set[str]:
    """The paths of the Unix sockets a process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    paths = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[6] in inodes:
            paths.add(fields[7])
    return paths


def test_two_servers_share_no_control_socket(tmp_path):
    # gunicorn's default control socket path, for both servers: the same user's.
    home = {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    for name in ("run", "first", "second"):
        (tmp_path / name).mkdir()
    with (
        gunicorn(tmp_path / "first", **home) as first,
        gunicorn(tmp_path / "second", **home) as second,
    ):
        for server in (first, second):
            response = requests.get(f"{server.url}/health/live", verify=server.ca, timeout=10)
            assert response.status_code == 200
            assert unix_socket_paths(server.pid) == set()
        assert list((tmp_path / "run").iterdir()) == []
        assert not (tmp_path / "home" / ".gunicorn").exists()
