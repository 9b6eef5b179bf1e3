"""The OpenAPI schema: valid, complete, and what the service really answers."""

import re
import uuid

import pytest
from django.test import Client
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from tests.conftest import PASSWORD, client_for, tokens_for
from tests.helpers import claims

pytestmark = pytest.mark.django_db

ROUTES = {
    ("post", "/user"),
    ("put", "/user"),
    ("delete", "/user"),
    ("get", "/user/{user_id}"),
    ("post", "/user/search"),
    ("post", "/login"),
    ("post", "/login/refresh"),
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
    ("post", "/kafka/publish"),
    ("get", "/.well-known/jwks.json"),
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
    declared = operation["responses"][str(response.status_code)]
    media = response.get("Content-Type", "").split(";")[0]
    if response.status_code in (204, 302):
        assert not declared.get("content") and not response.content
    elif media == "application/json":
        schema = declared["content"]["application/json"]["schema"]
        OAS30Validator({**schema, "components": spec["components"]}).validate(response.json())
    else:  # a file or the metrics text
        assert declared["content"] and "application/json" not in declared["content"]
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
    data_id = upload.json()["data"]["data_id"]
    conforms(
        spec,
        "put",
        "/user/data",
        client.put("/user/data", {"data_id": data_id, "comments": "c"}, format="json"),
    )
    conforms(spec, "post", "/user/data/search", client.post("/user/data/search", {}, format="json"))
    conforms(spec, "get", "/.well-known/jwks.json", api.get("/.well-known/jwks.json"))
    conforms(spec, "get", "/health/ready", api.get("/health/ready"))
    publish = client_for(admin).post(
        "/kafka/publish", {"topic": "testing", "value": 1}, format="json"
    )
    conforms(spec, "post", "/kafka/publish", publish)


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
    path = f"/user/data/{upload.json()['data']['data_id']}"
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
