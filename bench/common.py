"""What the benchmarks share: a throwaway database and the real gunicorn over HTTPS."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent
CA = BASE_DIR / "certs" / "tls" / "api" / "api-ca.pem"
PORT = int(os.environ.get("PORT", "3444"))
URL = f"https://localhost:{PORT}"
PASSWORD = "bench password 123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = str(CA)
    return http


@contextmanager
def bench_database(extra_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A migrated database made for this run and dropped after; yields the environment."""
    env = {
        **os.environ,
        "POSTGRES_ENDPOINT": os.environ.get("POSTGRES_ENDPOINT", "127.0.0.1:5432"),
        "POSTGRES_USERNAME": os.environ.get("POSTGRES_USERNAME", "postgres"),
        "DB_NAME": f"restapi_bench_{os.getpid()}",
        "DEBUG": "1",
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    host, _, port = env["POSTGRES_ENDPOINT"].rpartition(":")
    psql = ["psql", "-h", host, "-p", port, "-U", env["POSTGRES_USERNAME"], "-d", "postgres", "-qc"]
    subprocess.run([*psql, f"CREATE DATABASE {env['DB_NAME']}"], check=True)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True
        )
        yield env
    finally:
        subprocess.run([*psql, f"DROP DATABASE {env['DB_NAME']} WITH (FORCE)"], check=True)


SERVER_ENV = {
    "API_ENDPOINT": f"127.0.0.1:{PORT}",
    "API_ACCESS_LOG": "/dev/null",
    "RATE_LIMIT_LOGIN": "1000000/1",
    "RATE_LIMIT_REGISTER": "1000000/1",
}


@contextmanager
def serve(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn with the product's settings in this environment (a bench_database's)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "restapi/gunicorn_conf.py", "restapi.wsgi"],
        cwd=BASE_DIR,
        env={**env, **SERVER_ENV},
    )
    try:
        for _ in range(100):
            try:
                session().get(f"{URL}/health/live", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait()


@contextmanager
def running_server(extra_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn with the product's settings on a database made for this run."""
    with bench_database(SERVER_ENV | extra_env) as env, serve(env) as server:
        yield server


def register(email: str) -> dict[str, str]:
    """Registers and returns the Authorization header for the new account."""
    body = session().post(f"{URL}/user", json={"email": email, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {body['token']}"}
