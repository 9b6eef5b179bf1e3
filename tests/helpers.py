import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import jwt
from django.conf import settings
from prometheus_client import REGISTRY
from rest_framework.test import APIClient
from yamllint import linter
from yamllint.config import YamlLintConfig

from auth.keys import key_ring
from auth.services import Tokens, session_start
from tests.logscan import scan
from users.models import User

BASE_DIR = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
scan.add(PASSWORD)

TOKEN_FIELDS = {"user_id", "email", "state", "verified", "role", "created_at", "updated_at"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error contract with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["msg"], str) and body["msg"]
    return body  # type: ignore[no-any-return]


def login(client: APIClient, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    """POST /login through the in-process client: the response, whatever its status (the
    live server's is Server.login, tests/fixtures/server.py)."""
    return client.post("/login", {"email": email, "password": password}, format="json", **extra)


def assert_status(response: Any, status: int) -> dict[str, Any]:
    """The response has this status; its JSON body."""
    assert response.status_code == status, response.content
    return response.json()  # type: ignore[no-any-return]


def tokens_for(user: User) -> Tokens:
    """A new session for the user, as a login would make."""
    tokens = session_start(user=user, client_ip="127.0.0.1", user_agent="tests")
    scan.add(tokens.token)
    scan.add(tokens.refresh)
    return tokens


def client_for(user: User, token: str | None = None) -> APIClient:
    """An in-process client with an access token: a new session's, or the one given."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or tokens_for(user).token}")
    return client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def claims(token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    key = key_ring().verifiers[header["kid"]]
    return jwt.decode(  # type: ignore[no-any-return]
        token,
        key,
        algorithms=["ES256"],
        issuer=settings.TOKEN_ISSUER,
        audience=settings.TOKEN_AUDIENCE,
    )


YAMLLINT = YamlLintConfig(file=str(BASE_DIR / ".yamllint"))


def yaml_problems(text: str) -> list[str]:
    """What yamllint finds in the text, with the project's .yamllint."""
    return [
        f"{problem.line}:{problem.column} {problem.message}"
        for problem in linter.run(text, YAMLLINT)
    ]


def counted(name: str, **labels: str) -> float:
    """A counter's current value in this process (0 before its first increment)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def file_row(user: Any, *, key: str, sloc: str, **fields: Any) -> Any:
    """A file's row as if it had been uploaded (no object is stored)."""
    from userdata.models import UserFile

    row = {
        "filename": "f.txt",
        "size_in_bytes": 1,
        "sha256": "0" * 64,
        "content_type": "text/plain",
    }
    return UserFile.objects.create(user=user, key=key, sloc=sloc, **(row | fields))
