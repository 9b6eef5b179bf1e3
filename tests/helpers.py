from typing import Any

import jwt
from django.conf import settings
from prometheus_client import REGISTRY
from yamllint import linter
from yamllint.config import YamlLintConfig

from auth.keys import key_ring
from tests.conftest import BASE_DIR

TOKEN_FIELDS = {"user_id", "email", "state", "verified", "role", "created_at", "updated_at"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the JSON error contract with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["msg"], str) and body["msg"]
    return body  # type: ignore[no-any-return]


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
    from userdata.models import UserData

    row = {
        "filename": "f.txt",
        "size_in_bytes": 1,
        "sha256": "0" * 64,
        "content_type": "text/plain",
    }
    return UserData.objects.create(user=user, key=key, sloc=sloc, **(row | fields))
