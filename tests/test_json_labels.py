"""JSON bodies labelled as form data, text/plain or not at all are read as JSON on the JSON
routes, as the Rust service read them (restapi/negotiation.py); nothing else changes: no
body is parsed as a form, uploads keep their raw bytes, a browser's cross-site post and a
cookie-authenticated view still get 415, and the admin's real forms keep working."""

import json
import re

import pytest
from django.test import Client, RequestFactory
from django.urls import get_resolver
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.helpers import PASSWORD, assert_error, client_for
from tests.test_route_walker import url_map
from users.models import User

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
# The labels curl -d, fetch() with a string body and a bare client send.
LABELS = [FORM, "text/plain", "text/plain; charset=utf-8", ""]


def post_login(client, body, content_type, **headers):
    """POST /login with this raw body under this Content-Type (tests.helpers.login sends JSON)."""
    return client.generic("POST", "/login", body, content_type=content_type, **headers)


@pytest.mark.parametrize("label", LABELS)
def test_json_labelled_otherwise_is_read_as_json(api, user, label):
    body = json.dumps({"email": user.email, "password": PASSWORD})
    response = post_login(api, body, label)
    assert response.status_code == 201, response.content
    assert response.json()["user_id"] == user.pk


@pytest.mark.parametrize("label", LABELS)
def test_validation_applies_as_to_application_json(api, label):
    response = post_login(api, json.dumps({"email": "a@example.com"}), label)
    assert "password" in assert_error(response, 400, "validation_error")["errors"]


def test_the_charset_of_the_label_decodes_the_body(api, user):
    body = json.dumps({"email": user.email, "password": PASSWORD}).encode("utf-16")
    assert post_login(api, body, "text/plain; charset=utf-16").status_code == 201


@pytest.mark.parametrize("label", LABELS)
def test_a_form_body_is_malformed_json_and_changes_nothing(user, label):
    client = client_for(user)
    form = f"user_id={user.pk}&email=new%40example.com&current_password={PASSWORD}"
    response = client.generic("PUT", "/user", form, content_type=label)
    assert_error(response, 400, "malformed_json")
    user.refresh_from_db()
    assert (user.email, user.pending_email) == ("alice@example.com", None)


@pytest.mark.parametrize("label", ["multipart/form-data; boundary=x", "application/xml"])
def test_other_labels_stay_unsupported(api, user, label):
    body = json.dumps({"email": user.email, "password": PASSWORD})
    assert_error(post_login(api, body, label), 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "browser",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_SEC_FETCH_SITE": "same-site", "HTTP_ORIGIN": "https://app.example"},
        # A browser without Fetch Metadata still says where the form was.
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},
    ],
)
@pytest.mark.parametrize("label", [FORM, "text/plain"])
def test_a_browsers_cross_site_form_post_stays_refused(api, user, browser, label):
    body = json.dumps({"email": user.email, "password": PASSWORD})
    assert_error(post_login(api, body, label, **browser), 415, "unsupported_media_type")


def test_a_browsers_own_json_is_read_from_any_site(api, user):
    """application/json cannot cross sites without a preflight, which nothing here answers."""
    body = json.dumps({"email": user.email, "password": PASSWORD})
    browser = {"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_ORIGIN": "https://testserver"}
    assert post_login(api, body, FORM, **browser).status_code == 201
    cross = {"HTTP_SEC_FETCH_SITE": "cross-site"}
    assert post_login(api, body, "application/json", **cross).status_code == 201


def test_no_other_site_may_send_a_token_or_json(api):
    """No CORS headers: a browser refuses other sites' preflighted requests (a bearer
    token, an application/json body), so they never leave the browser."""
    preflight = api.options(
        "/user/search",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert not [name for name in preflight.headers if name.lower().startswith("access-control")]


class CookieView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        return Response(request.data)


def test_a_cookie_authenticated_view_reads_no_other_label():
    view = CookieView.as_view()
    for label in (FORM, "text/plain"):
        request = RequestFactory().post("/", '{"a": 1}', content_type=label)
        assert view(request).status_code == 415
    request = RequestFactory().post("/", '{"a": 1}', content_type="application/json")
    assert view(request).data == {"a": 1}


def test_no_route_authenticates_a_write_with_a_cookie():
    """The views that take the admin site's session (the docs) only read."""
    for route in url_map() | {"/docs", "/openapi.json"}:
        match = get_resolver().resolve(route.replace("{", "1").replace("}", ""))
        view = getattr(match.func, "view_class", None)
        if view is None or not issubclass(view, APIView):
            continue
        if any(issubclass(a, SessionAuthentication) for a in view.authentication_classes):
            writes = {"post", "put", "patch", "delete"} & set(dir(view))
            assert not writes, (route, writes)


@pytest.mark.parametrize("label", [FORM, ""])
def test_an_upload_keeps_its_raw_body_whatever_its_label(user, label):
    client = client_for(user)
    body = b"a=1&b=2"
    response = client.generic("POST", "/user/data", body, content_type=label, HTTP_FILENAME="f")
    assert response.status_code == 201, response.content
    download = client.get(f"/user/data/{response.json()['data_id']}")
    assert b"".join(download.streaming_content) == body


def csrf_token(page):
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()


def test_the_admins_forms_still_work_with_cookies_and_csrf(admin, user):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/admin/login/")
    body = {"username": admin.email, "password": PASSWORD, "next": "/admin/"}
    refused = browser.post("/admin/login/", body)
    assert refused.status_code == 403
    logged_in = browser.post("/admin/login/", {**body, "csrfmiddlewaretoken": csrf_token(page)})
    assert logged_in.status_code == 302 and logged_in["Location"] == "/admin/"
    changelist = browser.get("/admin/users/user/")
    assert changelist.status_code == 200
    action = {"action": "deactivate", "_selected_action": [user.pk]}
    assert browser.post("/admin/users/user/", action).status_code == 403
    done = browser.post(
        "/admin/users/user/", {**action, "csrfmiddlewaretoken": csrf_token(changelist)}
    )
    assert done.status_code == 302
    assert User.objects.get(pk=user.pk).state == 1
