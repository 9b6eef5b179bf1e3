"""The error contract through the real gunicorn over TLS: hostile JSON, methods and paths
nobody routes, the admin's own errors, the metrics' labels, reserved Kafka headers."""

import re

import pytest

from kafka_events.models import OutboxEvent
from restapi.metrics import SEED_METHODS, SEED_ROUTES
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def assert_json_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    return response.json()


@pytest.mark.parametrize("route", ["/user", "/login", "/login/refresh", "/user/password/reset"])
def test_deeply_nested_json_is_400_without_a_token(server, route):
    # 1,000 levels in 2 KB was a RecursionError: a 500 and a traceback in the log.
    http = server.session()
    for body in ("[" * 1000 + "]" * 1000, "[" * 1000, '{"a":' * 40 + "1" + "}" * 40):
        response = http.post(
            f"{server.url}{route}", data=body, headers={"Content-Type": "application/json"}
        )
        assert_json_error(response, 400, "json_too_deep")
    assert "Traceback" not in server.log.read_text()


def admin_token(server, make_user):
    admin = make_user(email="ops@example.com", role="admin")
    login = server.session().post(
        f"{server.url}/login", json={"email": admin.email, "password": PASSWORD}
    )
    assert login.status_code == 201, login.text
    return login.json()["token"]


def test_free_form_values_are_held_to_the_limit(server, make_user):
    token = admin_token(server, make_user)
    value = '{"a":' * 40 + "1" + "}" * 40
    response = server.session().post(
        f"{server.url}/kafka/publish",
        data=f'{{"topic": "e2e.user.events", "value": {value}}}',
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert_json_error(response, 400, "json_too_deep")
    assert not OutboxEvent.objects.filter(event_type="message").exists()


@pytest.mark.parametrize("name", ["event_id", "Event_Type", "CONTENT-TYPE"])
def test_one_off_messages_cannot_set_the_services_own_headers(server, make_user, name):
    token = admin_token(server, make_user)
    response = server.session().post(
        f"{server.url}/kafka/publish",
        json={"topic": "e2e.user.events", "value": {"id": "x"}, "headers": {name: "forged"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = assert_json_error(response, 400, "validation_error")
    assert name in body["errors"]["headers"][0]
    assert not OutboxEvent.objects.filter(event_type="message").exists()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_methods_on_unknown_paths_are_a_json_404(server, method):
    response = server.session().request(method, f"{server.url}/no/such/path", data=b"{}")
    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "TRACE", "OPTIONS", "FOO"])
def test_metrics_answer_get_and_head_only(server, method):
    http = server.session()
    response = http.request(method, f"{server.url}/metrics")
    assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, HEAD"
    assert http.get(f"{server.url}/metrics").status_code == 200
    head = http.head(f"{server.url}/metrics")
    assert head.status_code == 200 and head.content == b""


@pytest.fixture
def operator(server, make_user):
    """A browser logged in to the admin, through its own login form."""
    make_user(email="ops@example.com", role="admin")
    browser = server.session()
    browser.get(f"{server.url}/admin/login/")
    login = browser.post(
        f"{server.url}/admin/login/",
        data={
            "username": "ops@example.com",
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": f"{server.url}/admin/login/"},
        allow_redirects=False,
    )
    assert login.status_code == 302, login.text
    return browser


def assert_admin_page(response, status):
    """A plain HTML page for the operator's browser, without Django's DEBUG details."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"<h1>{status} " in response.text
    assert "DEBUG" not in response.text and "Traceback" not in response.text


def test_the_admins_own_403_404_and_csrf_failures_are_not_500s(server, operator):
    # Files and outbox rows are not added in the admin: a 403, not a 500.
    for model in ("userdata/userfile", "kafka_events/outboxevent", "authn/session"):
        assert_admin_page(operator.get(f"{server.url}/admin/{model}/add/"), 403)
    # Users are, through the service that registration uses.
    assert operator.get(f"{server.url}/admin/users/user/add/").status_code == 200
    assert_admin_page(operator.get(f"{server.url}/admin/nonexistent/"), 404)
    forged = operator.post(f"{server.url}/admin/users/user/", data={"action": "deactivate"})
    assert_admin_page(forged, 403)
    assert "reload it" in forged.text
    anonymous = server.session().post(f"{server.url}/admin/login/", data={"username": "x"})
    assert_admin_page(anonymous, 403)
    metrics = server.session().get(f"{server.url}/metrics").text
    assert 'status="500"' not in metrics


def series(server):
    text = server.session().get(f"{server.url}/metrics").text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and line[0] != "#"}


def test_made_up_methods_and_paths_make_no_new_series(server):
    """Every label of every request metric comes from a fixed set: after one request of
    each kind, forty more made-up methods and paths leave the series as they were."""
    http = server.session()

    def made_up(method, path):
        response = http.request(method, f"{server.url}{path}")
        assert response.status_code in (401, 404, 405), (method, path, response.status_code)

    paths = ["/user", "/login", "/metrics", "/health/live"]
    for path in [*paths, "/unknown/warm-up"]:
        made_up("WARMUP", path)
    series(server)  # the scrape's own series
    before = series(server)
    for i in range(40):
        for path in paths:
            made_up(f"MADEUP{i}", path)
        made_up("GET", f"/unknown/{i}/{'x' * i}")
    after = series(server)
    assert after == before, sorted(after - before)[:5]
    ours = [line for line in after if line.startswith("restapi_http_")]
    methods = {m for line in ours for m in re.findall(r'method="([^"]*)"', line)}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "other"}
    # The Rust service's families: its own fixed values.
    rust = [line for line in after if line.startswith("http_request")]
    seed_methods = {m for line in rust for m in re.findall(r'method="([^"]*)"', line)}
    known = {method for _, method in SEED_ROUTES.values()} | {*SEED_METHODS.values(), "unknown"}
    assert rust and seed_methods <= known
