"""The route walker. It reads every operation of the URL map (through the OpenAPI schema
generated from it, checked here to cover the URL map whole) and attacks each:

- every id an operation takes (in its path, query, headers or JSON body), given another
  user's id by a plain user, is answered exactly as an id that does not exist, and
  changes nothing of that user's in the database;
- every admin-only route refuses a plain user's token with 403.

An operation that takes an id and is not described in PROBES fails the walk, so a new
route cannot be forgotten.
"""

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from kafka_events.models import OutboxEvent
from mfa.models import Passkey
from privacy.models import Export
from tests.helpers import PASSWORD, client_for, file_row, tokens_for
from users.models import TokenPurpose, User
from users.onetime import token_issue

pytestmark = pytest.mark.django_db

ID_NAMES = {"user_id", "data_id", "session_id", "passkey_id", "export_id", "u", "user-id"}
MISSING_ID = 2**62


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def id_inputs(spec: dict[str, Any], operation: dict[str, Any]) -> set[tuple[str, str]]:
    """(where, name) of every id the operation takes."""
    found = {
        (parameter["in"], parameter["name"])
        for parameter in operation.get("parameters", [])
        if parameter["name"] in ID_NAMES
    }
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = resolve(spec, content["application/json"]["schema"])
        found |= {("body", name) for name in body.get("properties", {}) if name in ID_NAMES}
    return found


Request = dict[str, Any]
# operationId → how to call it with `value` in the id input `name`: the rest of a request
# that would otherwise succeed, so that only the id decides.
PROBES: dict[str, Callable[[str, Any], Request]] = {
    "user_get": lambda name, value: {"path": f"/user/{value}"},
    "user_update": lambda name, value: {"data": {"user_id": value}},
    "user_deactivate": lambda name, value: {"data": {"user_id": value}},
    "session_revoke": lambda name, value: {"path": f"/user/sessions/{value}"},
    "user_verify": lambda name, value: {"query": {"u": value, "t": "x" * 43}},
    "user_verify_resend": lambda name, value: {
        "data": {"email": "nobody@example.com", "user_id": value}
    },
    "user_password_reset": lambda name, value: {
        "data": {"email": "nobody@example.com", "user_id": value}
    },
    "data_upload": lambda name, value: {
        "body": b"hello",
        "headers": {"HTTP_USER_ID": str(value), "HTTP_FILENAME": "a.txt"},
        "content_type": "text/plain",
    },
    "data_update": lambda name, value: {"data": {"data_id": value, "comments": "x"}},
    "data_search": lambda name, value: {"data": {name: value}},
    "data_download": lambda name, value: {"path": f"/user/data/{value}"},
    "data_delete": lambda name, value: {"path": f"/user/data/{value}"},
    "mfa_passkey_rename": lambda name, value: {
        "path": f"/user/mfa/passkeys/{value}",
        "data": {"name": "renamed"},
    },
    "mfa_passkey_delete": lambda name, value: {"path": f"/user/mfa/passkeys/{value}"},
    "audit_list": lambda name, value: {"query": {"user_id": value}},
    "export_get": lambda name, value: {"path": f"/user/export/{value}"},
    "user_erase": lambda name, value: {"data": {"user_id": value, "current_password": PASSWORD}},
}


@pytest.fixture(scope="module")
def spec(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def url_map() -> set[str]:
    """Every route the service serves, as the schema writes it (`{name}` for parameters)."""
    routes: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                routes.add(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return {
        "/" + re.sub(r"<(?:int|uuid|str):", "{", route).replace(">", "}")
        for route in routes
        if not route.startswith(("admin/", "^")) and route not in ("docs", "openapi.json")
    }


def test_the_schema_covers_the_url_map(spec):
    assert url_map() == set(spec["paths"])


def snapshot(victim: User) -> dict[str, list[dict[str, Any]]]:
    """Every row about the victim: theirs, in every table with a user foreign key (found
    from the models, so a new table is included), and their events in the outbox."""
    rows = {
        "users": list(User.objects.filter(pk=victim.pk).values()),
        "kafka_outbox": list(OutboxEvent.objects.filter(key=f"user-{victim.pk}").values()),
    }
    for model in apps.get_models():
        for field in model._meta.fields:
            if field.is_relation and field.related_model is User:
                rows[f"{model._meta.db_table}.{field.name}"] = list(
                    model.objects.filter(**{field.name: victim}).order_by("pk").values()
                )
    return rows


def call(client: APIClient, method: str, path: str, request: Request) -> Any:
    target = request.get("path", path)
    if "query" in request:
        return client.get(target, request["query"])
    if "body" in request:
        return client.generic(
            method.upper(),
            target,
            request["body"],
            content_type=request["content_type"],
            **request["headers"],
        )
    return getattr(client, method)(target, request.get("data"), format="json")


def victim_value(name: str, victim: Any, ids: dict[str, Any]) -> Any:
    return ids.get(name, victim.pk)


def missing_value(name: str) -> Any:
    return str(uuid.uuid4()) if name in ("session_id", "export_id") else MISSING_ID


def test_another_users_ids_are_answered_as_missing_ones_and_change_nothing(
    spec, user, other_user, s3
):
    attacker = client_for(user)
    victim_file = file_row(
        other_user,
        key=f"walker/{uuid.uuid4().hex}",
        sloc="s3://bucket/walker",
        filename="secret.txt",
        size_in_bytes=5,
    )
    victim_session = str(uuid.UUID(hex=tokens_for(other_user).refresh.split(".")[0]))
    victim_passkey = Passkey.objects.create(
        user=other_user, credential_id=b"walker", public_key=b"key", name="theirs"
    )
    victim_export = Export.objects.create(user=other_user, key="walker/export.zip")
    victim_ids = {
        "data_id": victim_file.pk,
        "session_id": victim_session,
        "passkey_id": victim_passkey.pk,
        "export_id": victim_export.pk,
    }
    # Live one-time tokens, so that a guess that counted against them would show.
    token_issue(user=other_user, purpose=TokenPurpose.VERIFY_EMAIL)
    token_issue(user=other_user, purpose=TokenPurpose.PASSWORD_RESET)
    walked = []
    for method, path, operation in operations(spec):
        for where, name in sorted(id_inputs(spec, operation)):
            operation_id = operation["operationId"]
            probe = PROBES.get(operation_id)
            assert probe, f"{operation_id} takes {name} in its {where}: describe it in PROBES"
            before = snapshot(other_user)
            hidden = call(
                attacker,
                method,
                path,
                probe(name, victim_value(name, other_user, victim_ids)),
            )
            assert snapshot(other_user) == before, (
                f"{operation_id} changed the other user's rows through {name}"
            )
            missing = call(attacker, method, path, probe(name, missing_value(name)))
            assert (hidden.status_code, hidden.content) == (
                missing.status_code,
                missing.content,
            ), f"{operation_id}: another user's {name} is told apart from a missing one"
            walked.append((operation_id, name))
    assert len(walked) >= len(PROBES)


def admin_only_routes() -> list[str]:
    """Routes whose view lets only admins in (an `IsAdmin` permission)."""
    routes = []
    for route in url_map():
        match = get_resolver().resolve(route.replace("{", "1").replace("}", ""))
        permissions = getattr(getattr(match.func, "view_class", None), "permission_classes", [])
        if any(permission.__name__ == "IsAdmin" for permission in permissions):
            routes.append(route)
    return routes


def test_every_admin_only_route_refuses_a_user(spec, user):
    client = client_for(user)
    refused = []
    for route in admin_only_routes():
        for method in spec["paths"][route]:
            response = getattr(client, method)(route, {}, format="json")
            assert response.status_code == 403, (method, route, response.content)
            assert response.json()["code"] == "permission_denied"
            refused.append((method, route))
    assert ("post", "/kafka/publish") in refused
