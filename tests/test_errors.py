import inspect
import json
import re
from pathlib import Path

import pytest
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse
from django.test import Client, RequestFactory
from drf_spectacular.generators import SchemaGenerator
from rest_framework.exceptions import APIException

from restapi import exceptions
from restapi.codes import ErrorCode
from restapi.errors import csrf_failure_view
from restapi.middleware import JsonErrorMiddleware
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_unknown_route_is_json_404(api):
    assert_error(api.get("/does/not/exist"), 404, "not_found")
    assert_error(api.post("/user/"), 404, "not_found")


def test_wrong_method_is_json_405(user_client):
    assert_error(user_client.patch("/user", {}, format="json"), 405, "method_not_allowed")
    assert_error(user_client.get("/user/search"), 405, "method_not_allowed")


def test_malformed_json_is_400(api):
    response = api.post("/user", "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_other_content_types_are_415(api):
    response = api.post("/user", "<email>a@example.com</email>", content_type="application/xml")
    assert_error(response, 415, "unsupported_media_type")


def test_body_over_one_mebibyte_is_413_before_reading(api):
    body = '{"email": "' + "a" * (1024 * 1024) + '"}'
    assert_error(api.post("/user", body, content_type="application/json"), 413, "payload_too_large")


def test_uncaught_errors_are_json_500_without_details(user_client, user, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret detail: SELECT password FROM users")

    monkeypatch.setattr("users.views.selectors.user_get_for_actor", broken)
    response = user_client.get(f"/user/{user.pk}")
    assert_error(response, 500, "internal_error")
    assert b"secret" not in response.content
    assert b"SELECT" not in response.content


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unsafe_methods_on_unknown_paths_are_a_json_404_not_a_csrf_page(method):
    response = getattr(Client(enforce_csrf_checks=True), method)("/no/such/path")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "delete", "trace", "options"])
def test_metrics_refuse_other_methods_with_json_405(method, settings):
    response = Client(enforce_csrf_checks=True).generic(method.upper(), "/metrics")
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
    # The token is checked first, as DRF authenticates before it checks the method.
    settings.METRICS_TOKEN = "scrape-secret"
    response = Client().generic(method.upper(), "/metrics")
    assert_error(response, 401, "not_authenticated")


def test_metrics_answer_head(api):
    response = api.head("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")


def admin_page(response, status):
    assert response.status_code == status
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert f"<h1>{status} " in html and "DEBUG" not in html
    return html


def test_the_admin_answers_its_own_403_and_404_as_html_pages(admin, settings):
    settings.DEBUG = True
    operator = Client()
    operator.force_login(admin)
    admin_page(operator.get("/admin/userdata/userfile/add/"), 403)  # files are added by upload
    admin_page(operator.get("/admin/nonexistent/"), 404)


def test_a_csrf_failure_on_the_admins_forms_is_an_html_page(admin):
    operator = Client(enforce_csrf_checks=True)
    operator.force_login(admin)
    html = admin_page(operator.post("/admin/users/user/", {"action": "deactivate"}), 403)
    assert "reload it" in html


def json_error_of(response, status, code):
    """The contract's JSON error, from a response that did not go through the test client."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["code"] == code and body["msg"]
    return body


def test_a_csrf_failure_elsewhere_is_json():
    response = csrf_failure_view(RequestFactory().post("/login"), reason="no token")
    json_error_of(response, 403, "csrf_failed")


@pytest.mark.parametrize(
    ("exception", "status", "code"),
    [
        (Http404("secret detail"), 404, "not_found"),
        (PermissionDenied("secret detail"), 403, "permission_denied"),
        (SuspiciousOperation("secret detail"), 400, "bad_request"),
        (BadRequest("secret detail"), 400, "bad_request"),
    ],
)
def test_djangos_own_exceptions_keep_their_status_in_debug_too(exception, status, code, settings):
    settings.DEBUG = True
    middleware = JsonErrorMiddleware(lambda request: HttpResponse())
    response = middleware.process_exception(RequestFactory().get("/metrics"), exception)
    assert "secret" not in json_error_of(response, status, code)["msg"]
    admin = middleware.process_exception(RequestFactory().get("/admin/x/"), exception)
    assert "secret" not in admin_page(admin, status)


def test_a_client_asking_for_another_format_gets_json(user_client, user):
    """No content negotiation: the API speaks JSON only (restapi/negotiation.py)."""
    response = user_client.get(f"/user/{user.pk}", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def documented_errors():
    """The (status, code) rows of docs/api.md's table of errors (README.md points there)."""
    text = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    return {
        (int(status), code)
        for status, code in re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", section, re.MULTILINE)
    }


def test_the_enum_the_schema_and_the_docs_list_the_same_codes():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    in_schema = schema["components"]["schemas"]["ErrorCodeEnum"]["enum"]
    error_body = schema["components"]["schemas"]["ErrorOutput"]["properties"]["code"]
    assert error_body == {"$ref": "#/components/schemas/ErrorCodeEnum"}
    documented = [code for _, code in documented_errors()]
    assert len(documented) == len(set(documented)), "a code documented twice"
    assert set(in_schema) == set(ErrorCode) == set(documented)


def test_each_exception_has_the_status_its_code_is_documented_with():
    classes = [
        cls
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, APIException) and cls.__module__ == exceptions.__name__
    ]
    assert len(classes) > 10
    documented = documented_errors()
    for cls in classes:
        assert (cls.status_code, cls.default_code) in documented, cls
