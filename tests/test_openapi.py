"""The OpenAPI schema: valid, complete, and what the service really answers."""

import json
import re
import uuid

import pytest
from django.db import OperationalError, connection
from django.test import Client
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec
from rest_framework.test import APIClient

from tests.helpers import PASSWORD, assert_error, claims, client_for, tokens_for

pytestmark = pytest.mark.django_db

ROUTES = {
    ("post", "/user"),
    ("put", "/user"),
    ("delete", "/user"),
    ("get", "/user/{user_id}"),
    ("post", "/user/search"),
    ("post", "/login"),
    ("post", "/login/refresh"),
    ("post", "/login/passkey/options"),
    ("post", "/login/passkey"),
    ("post", "/logout"),
    ("post", "/logout/all"),
    ("get", "/user/sessions"),
    ("delete", "/user/sessions/{session_id}"),
    ("get", "/user/verify"),
    ("post", "/user/verify/resend"),
    ("post", "/user/password/reset"),
    ("post", "/user/password/change"),
    ("post", "/user/data"),
    ("put", "/user/data"),
    ("post", "/user/data/search"),
    ("get", "/user/data/{data_id}"),
    ("delete", "/user/data/{data_id}"),
    ("post", "/user/mfa/passkeys/options"),
    ("get", "/user/mfa/passkeys"),
    ("post", "/user/mfa/passkeys"),
    ("put", "/user/mfa/passkeys/{passkey_id}"),
    ("delete", "/user/mfa/passkeys/{passkey_id}"),
    ("post", "/kafka/publish"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
}


@pytest.fixture(scope="module")
def spec(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def conforms(spec, method, template, response):
    """The status is documented for the operation, and the body is what it says: JSON that
    validates against the declared schema, a documented non-JSON body, or none. Returns the
    status."""
    operation = spec["paths"][template][method]
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method.upper()} {template} answered {status}, which it does not document: "
        f"{response.content[:200]!r}"
    )
    declared = operation["responses"][status]
    content = declared.get("content", {})
    media = response.get("Content-Type", "").split(";")[0]
    if response.status_code in (204, 302):
        assert not content and not response.content
    elif media in content and media == "application/json":
        schema = content["application/json"]["schema"]
        OAS30Validator({**schema, "components": spec["components"]}).validate(response.json())
    else:  # a file (any type: "*/*") or the metrics text
        assert media in content or "*/*" in content, (template, status, media)
    return response.status_code


def test_schema_is_valid_openapi_3_and_lists_every_route(spec):
    validate_spec(spec)
    assert spec["openapi"].startswith("3.")
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert documented >= ROUTES


def test_real_responses_conform_to_the_schema(spec, api, admin, user_data_dir, settings):
    settings.KAFKA_TOPICS = ["testing"]
    created = api.post("/user", {"email": "doc@example.com", "password": PASSWORD}, format="json")
    conforms(spec, "post", "/user", created)
    conforms(spec, "post", "/user", api.post("/user", {"email": "bad"}, format="json"))
    login = api.post("/login", {"email": "doc@example.com", "password": PASSWORD}, format="json")
    conforms(spec, "post", "/login", login)
    conforms(
        spec, "post", "/login", api.post("/login", {"email": "x", "password": "y"}, format="json")
    )
    conforms(
        spec,
        "post",
        "/login/refresh",
        api.post("/login/refresh", {"refresh": login.json()["refresh"]}, format="json"),
    )
    client = api.__class__()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['token']}")
    user_id = created.json()["user_id"]
    conforms(spec, "get", "/user/{user_id}", client.get(f"/user/{user_id}"))
    conforms(spec, "get", "/user/{user_id}", client.get("/user/987654"))
    conforms(
        spec,
        "put",
        "/user",
        client.put("/user", {"user_id": user_id, "role": "admin"}, format="json"),
    )
    conforms(
        spec, "post", "/user/search", client.post("/user/search", {"email": "doc"}, format="json")
    )
    conforms(spec, "get", "/user/sessions", client.get("/user/sessions"))
    conforms(
        spec,
        "post",
        "/user/password/reset",
        api.post("/user/password/reset", {"email": "doc@example.com"}, format="json"),
    )
    upload = client.generic(
        "POST", "/user/data", b"data", content_type="text/plain", HTTP_FILENAME="d.txt"
    )
    conforms(spec, "post", "/user/data", upload)
    data_id = upload.json()["data_id"]
    conforms(
        spec,
        "put",
        "/user/data",
        client.put("/user/data", {"data_id": data_id, "comments": "c"}, format="json"),
    )
    conforms(spec, "post", "/user/data/search", client.post("/user/data/search", {}, format="json"))
    conforms(spec, "get", "/.well-known/jwks.json", api.get("/.well-known/jwks.json"))
    discovery = api.get("/.well-known/openid-configuration")
    assert conforms(spec, "get", "/.well-known/openid-configuration", discovery) == 200
    conforms(spec, "get", "/health/ready", api.get("/health/ready"))
    settings.KAFKA_ENABLED = True
    publish = client_for(admin).post(
        "/kafka/publish", {"topic": "testing", "value": 1}, format="json"
    )
    assert conforms(spec, "post", "/kafka/publish", publish) == 202
    settings.KAFKA_ENABLED = False
    publish = client_for(admin).post(
        "/kafka/publish", {"topic": "testing", "value": 1}, format="json"
    )
    assert conforms(spec, "post", "/kafka/publish", publish) == 409


def test_every_other_operation_answers_as_documented(spec, api, user, user_data_dir):
    client = client_for(user)
    assert conforms(spec, "get", "/health/live", api.get("/health/live")) == 200
    assert conforms(spec, "get", "/metrics", api.get("/metrics")) == 200
    verify = api.get("/user/verify", {"u": user.pk, "t": "wrong"})
    assert conforms(spec, "get", "/user/verify", verify) == 400
    assert conforms(spec, "post", "/user/verify/resend", client.post("/user/verify/resend")) == 202
    change = {"email": user.email, "token": "wrong", "password": "a new passphrase"}
    response = api.post("/user/password/change", change, format="json")
    assert conforms(spec, "post", "/user/password/change", response) == 400

    upload = client.generic(
        "POST", "/user/data", b"data", content_type="text/plain", HTTP_FILENAME="d.txt"
    )
    path = f"/user/data/{upload.json()['data_id']}"
    assert conforms(spec, "get", "/user/data/{data_id}", client.get(path)) == 200
    assert conforms(spec, "delete", "/user/data/{data_id}", client.delete(path)) == 204
    assert conforms(spec, "delete", "/user/data/{data_id}", client.delete(path)) == 404

    other_session = claims(tokens_for(user).token)["sid"]
    for session_id, status in ((uuid.uuid4(), 404), (other_session, 204)):
        response = client.delete(f"/user/sessions/{session_id}")
        assert conforms(spec, "delete", "/user/sessions/{session_id}", response) == status
    assert conforms(spec, "post", "/logout", client.post("/logout")) == 204
    assert conforms(spec, "post", "/logout", client.post("/logout")) == 401
    assert conforms(spec, "post", "/logout/all", client_for(user).post("/logout/all")) == 204
    last = client_for(user)
    delete = {"user_id": user.pk}
    assert conforms(spec, "delete", "/user", last.delete("/user", delete, format="json")) == 204
    assert conforms(spec, "delete", "/user", last.delete("/user", delete, format="json")) == 401


def test_docs_ui_works_offline(api):
    response = api.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_private_docs_take_an_admin_jwt_or_the_admin_sites_login(settings, user, admin, path):
    settings.API_DOCS_PUBLIC = False
    assert Client().get(path).status_code == 401
    assert client_for(user).get(path).status_code == 403
    assert client_for(admin).get(path).status_code == 200
    browser = Client()
    browser.force_login(user)
    assert browser.get(path).status_code == 403
    browser.force_login(admin)
    assert browser.get(path).status_code == 200
    settings.API_DOCS_PUBLIC = True
    assert Client().get(path).status_code == 200


def operations(spec):
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, template, operation


def takes_json(operation):
    return "application/json" in operation.get("requestBody", {}).get("content", {})


def test_each_security_requirement_is_listed_once(spec):
    secured = 0
    for method, template, operation in operations(spec):
        requirements = [json.dumps(r, sort_keys=True) for r in operation.get("security", [])]
        assert len(requirements) == len(set(requirements)), (method, template)
        jwt_requirements = [r for r in operation.get("security", []) if "jwtAuth" in r]
        assert len(jwt_requirements) <= 1, (method, template)
        secured += len(jwt_requirements)
    # Every JWT route and the resend's optional JWT.
    assert secured == 29


def test_implied_statuses_are_documented_everywhere(spec):
    for method, template, operation in operations(spec):
        documented = set(operation["responses"])
        if any(operation.get("security", [])):
            assert "401" in documented, (method, template)
        if takes_json(operation):
            assert {"400", "413", "415"} <= documented, (method, template)


def test_ids_and_upload_headers_have_their_bounds(spec):
    bounds = {"minimum": 1, "maximum": 2**63 - 1}
    checked = set()
    for _, template, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["name"] in ("user_id", "data_id", "u", "user-id"):
                assert parameter["schema"]["type"] == "integer"
                assert bounds.items() <= parameter["schema"].items(), (template, parameter)
                checked.add(parameter["name"])
            if parameter["name"] == "filename":
                assert (parameter["schema"]["minLength"], parameter["schema"]["maxLength"]) == (
                    1,
                    255,
                )
                checked.add("filename")
    assert checked == {"user_id", "data_id", "u", "user-id", "filename"}


def test_the_download_documents_any_content_type(spec, user, user_data_dir):
    operation = spec["paths"]["/user/data/{data_id}"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["*/*"]
    client = client_for(user)
    upload = client.generic(
        "POST", "/user/data", b"a,b", content_type="text/csv", HTTP_FILENAME="d.csv"
    )
    response = client.get(f"/user/data/{upload.json()['data_id']}")
    assert response["Content-Type"] == "text/csv"
    assert conforms(spec, "get", "/user/data/{data_id}", response) == 200


def test_verify_resend_takes_no_body_from_jwt_callers(spec, api, user, settings):
    operation = spec["paths"]["/user/verify/resend"]["post"]
    assert not operation["requestBody"].get("required", False)
    response = client_for(user).post("/user/verify/resend")
    assert conforms(spec, "post", "/user/verify/resend", response) == 202
    settings.USER_EMAIL_VERIFICATION_REQUIRED = True
    response = api.post("/user/verify/resend", {"email": user.email}, format="json")
    assert conforms(spec, "post", "/user/verify/resend", response) == 202


def body_fields(spec, operation):
    """The request body's properties (the schema is a $ref to a component)."""
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]


@pytest.mark.parametrize("value", [0, 1.5, True])
def test_every_text_field_refuses_other_json_values(spec, api, admin, value, settings):
    """Read from the schema, so a new input field is covered the day it is added."""
    # Off, the passwordless login does not read its body (it is an unknown route).
    settings.MFA_PASSKEY_LOGIN = True
    checked = []
    for method, template, operation in operations(spec):
        if not takes_json(operation):
            continue
        # With a JWT, /user/verify/resend ignores its body: send that one anonymously.
        client = client_for(admin) if {} not in operation.get("security", [{}]) else api
        for name, field in body_fields(spec, operation).items():
            if field.get("type") == "string":
                body = {name: value}
            elif field.get("additionalProperties", {}).get("type") == "string":
                body = {name: {"a-name": value}}
            else:
                continue
            # The only path parameter of an operation with a JSON body.
            path = template.replace("{passkey_id}", "1")
            response = client.generic(method.upper(), path, json.dumps(body), "application/json")
            errors = assert_error(response, 400, "validation_error")["errors"]
            assert name in errors, (method, template, name, errors)
            checked.append(name)
    assert {"email", "password", "encoding", "comments", "topic", "headers", "cursor"} <= set(
        checked
    )


DEEP = "[" * 100 + "]" * 100
# OpenAPI 3.0 has no request body on DELETE; this one takes {"user_id"} (the seed's).
BODY_NOT_IN_SCHEMA = {("delete", "/user")}
BAD_BODIES = [
    ("{", "application/json"),
    (DEEP, "application/json"),
    ("<a/>", "application/xml"),
    (" " * (1024 * 1024 + 1), "application/json"),
]


def test_every_operation_answers_only_what_it_documents(spec, user, admin, settings):
    """Each operation gets the requests that provoke what any request can get: no token,
    a bad one, a user's and an admin's; bodies empty, not JSON, too deep, of another type,
    too large, with wrong-typed fields; a rate limit of one; the database down. Every
    answer must be documented (and conform), and the statuses of the shared machinery
    must really happen where they are documented: 401 on every operation with a security
    requirement, 400/413/415 on every JSON body; the operations that do not document the
    database's 503 work without it."""
    settings.RATE_LIMITS = dict.fromkeys(settings.RATE_LIMITS, "1000/60")
    # Off, the passwordless login is a 404 to every request: on, it shows the rest.
    settings.MFA_PASSKEY_LOGIN = True
    # Its security requirement applies when the token is set.
    settings.METRICS_TOKEN = "scrape-secret"
    answered: dict[tuple[str, str], set[int]] = {}

    def send(method, template, credentials, body=None, content_type="application/json"):
        url = (
            template.replace("{user_id}", str(user.pk))
            .replace("{data_id}", "1")
            .replace("{session_id}", str(uuid.uuid4()))
            .replace("{export_id}", str(uuid.uuid4()))
            .replace("{passkey_id}", "1")
            .replace("{event_type}", "user.created")
            .replace("{version}", "1")
        )
        client = APIClient()
        if credentials is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {credentials}")
        args = () if body is None else (body, content_type)
        response = client.generic(method.upper(), url, *args)
        status = conforms(spec, method, template, response)
        answered.setdefault((method, template), set()).add(status)
        return status

    def token(account):
        return tokens_for(account).token

    for method, template, operation in operations(spec):
        takes_body = "requestBody" in operation or (method, template) in BODY_NOT_IN_SCHEMA
        empty = "{}" if method in ("post", "put", "delete") else None
        for credentials in (None, "not-a-token", token(user), token(admin)):
            send(method, template, credentials, empty)
        if not takes_body:
            continue
        fields = body_fields(spec, operation) if takes_json(operation) else {}
        wrong_types = json.dumps({field: [] for field in fields})
        for account in (None, user, admin):
            for body, content_type in [(wrong_types, "application/json"), *BAD_BODIES]:
                send(method, template, account and token(account), body, content_type)

    settings.RATE_LIMITS = dict.fromkeys(settings.RATE_LIMITS, "1/3600")
    for method, template, _ in operations(spec):
        for _ in range(2):
            send(method, template, token(user), "{}" if method != "get" else None)

    settings.METRICS_TOKEN = ""

    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    without_database = {}
    for method, template, _ in operations(spec):
        credentials = token(user)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(connection, "cursor", unreachable)
            without_database[(method, template)] = send(method, template, credentials)

    for method, template, operation in operations(spec):
        documented = {int(status) for status in operation["responses"]}
        seen = answered[(method, template)]
        name = f"{method.upper()} {template}"
        if any(operation.get("security", [])):
            assert 401 in seen, name
        if takes_json(operation):
            assert {400, 413, 415} <= seen, name
        if 503 not in documented:
            # The exceptions to "every operation uses the database" really do not.
            assert without_database[(method, template)] == 200, name
