"""Health, request ids and metrics, in-process."""

import pytest
import requests
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from prometheus_client import REGISTRY

from restapi import health
from restapi.metrics import seed_labels, seed_status, serve_metrics, status_label
from restapi.signals import announce
from tests.fixtures.server import dev_tls_assets
from tests.helpers import PASSWORD, assert_error, counted, free_port

pytestmark = pytest.mark.django_db


def metric(api, name, **headers):
    response = api.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    return [line for line in text.splitlines() if line.startswith(name)]


def test_liveness(api):
    response = api.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readiness_needs_the_database_and_migrations_but_not_kafka_or_s3(
    api, settings, monkeypatch
):
    settings.KAFKA_ENABLED = True
    settings.KAFKA_BROKERS = "127.0.0.1:9"
    settings.S3_DATA_UPLOAD_TO_S3 = True
    settings.S3_ENDPOINT_URL = "http://127.0.0.1:9"
    assert api.get("/health/ready").json() == {"status": "ok"}

    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: ["pending"])
    pending = api.get("/health/ready")
    assert (pending.status_code, pending.json()["database"]) == (503, "migrations pending")

    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("restapi.health.connection.cursor", unreachable)
    down = api.get("/health/ready")
    assert (down.status_code, down.json()["database"]) == (503, "unreachable")


def test_request_id_is_returned_and_kept_when_sane(api):
    made = api.get("/health/live")["X-Request-ID"]
    assert len(made) == 32
    assert api.get("/health/live", HTTP_X_REQUEST_ID="trace-123")["X-Request-ID"] == "trace-123"
    replaced = api.get("/health/live", HTTP_X_REQUEST_ID="bad id\\r\\n")["X-Request-ID"]
    assert replaced != "bad id\\r\\n" and len(replaced) == 32


def test_metrics_count_requests_logins_and_hashing(api, user):
    api.post("/login", {"email": user.email, "password": PASSWORD}, format="json")
    api.post("/login", {"email": user.email, "password": "wrong one"}, format="json")
    lines = metric(api, "")
    assert any(line.startswith('restapi_logins_total{outcome="success"}') for line in lines)
    assert any(
        line.startswith('restapi_logins_total{outcome="invalid_credentials"}') for line in lines
    )
    assert any(
        line.startswith('restapi_http_requests_total{method="POST",route="login",status="201"}')
        for line in lines
    )
    assert any(line.startswith("restapi_password_hash_seconds_count") for line in lines)
    # Counted once: django-prometheus, which counted every request a second time, is gone.
    assert not any(line.startswith("django_http") for line in lines)


def test_outbox_backlog_is_reported(api, user, kafka):
    announce(user, "user.updated", changes=["role"])
    announce(user, "user.logged_out", session_id=None)
    assert metric(api, "restapi_outbox_pending ") == ["restapi_outbox_pending 2.0"]
    age = float(metric(api, "restapi_outbox_oldest_pending_age_seconds ")[0].split()[1])
    assert age >= 0


def test_per_ip_limited_logins_are_counted(api, user, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": "1/60"}
    sample = {"outcome": "rate_limited"}
    before = REGISTRY.get_sample_value("restapi_logins_total", sample) or 0
    api.post("/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert (
        api.post("/login", {"email": user.email, "password": PASSWORD}, format="json").status_code
        == 429
    )
    assert REGISTRY.get_sample_value("restapi_logins_total", sample) == before + 1


def test_metrics_token_protects_metrics(api, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert_error(api.get("/metrics"), 401, "not_authenticated")
    assert_error(api.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong"), 401, "not_authenticated")
    assert metric(api, "restapi_http_requests_total", HTTP_AUTHORIZATION="Bearer scrape-secret")


@pytest.mark.django_db(transaction=True)
def test_the_relay_metrics_server_hands_back_its_database_connections(tmp_path, monkeypatch):
    dev_tls_assets(tmp_path)
    monkeypatch.setenv("API_TLS_CERT", str(tmp_path / "api" / "api.crt"))
    monkeypatch.setenv("API_TLS_KEY", str(tmp_path / "api" / "api.key"))
    server = serve_metrics(f"127.0.0.1:{free_port()}")
    url = f"https://localhost:{server.server_port}/metrics"
    try:
        # More scrapes than the pool has connections: each runs in a thread of its own.
        pool_size = connection.settings_dict["OPTIONS"]["pool"]["max_size"]
        for _ in range(pool_size + 5):
            response = requests.get(url, verify=str(tmp_path / "api" / "api-ca.pem"), timeout=5)
            assert response.status_code == 200
            assert "restapi_outbox_pending " in response.text
    finally:
        server.shutdown()
        server.server_close()


def test_made_up_methods_and_statuses_are_labelled_from_fixed_sets(api):
    other = {"method": "other", "route": "unmatched", "status": "404"}
    before = counted("restapi_http_requests_total", **other)
    histogram = {"method": "other", "route": "unmatched"}
    before_histogram = counted("restapi_http_request_duration_seconds_count", **histogram)
    for method in ("MADEUP", "FOO", "PROPFIND"):
        api.generic(method, "/no/such/path")
    assert counted("restapi_http_requests_total", **other) == before + 3
    assert (
        counted("restapi_http_request_duration_seconds_count", **histogram) == before_histogram + 3
    )
    assert (
        REGISTRY.get_sample_value(
            "restapi_http_requests_total",
            {"method": "MADEUP", "route": "unmatched", "status": "404"},
        )
        is None
    )
    assert (status_label(404), status_label(599), status_label("abc")) == ("404", "other", "other")


def test_the_rust_services_families_count_each_request_once_with_its_labels(api, user):
    def seeds(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0

    login = {"resource": "auth", "method": "login"}
    get = {"resource": "user", "method": "get"}
    before = {
        "logins": seeds("http_requests_total", **login),
        "created": seeds("http_requests_total_by_status_code", **login, status_code="http_201"),
        "refused": seeds("http_requests_total_by_status_code", **login, status_code="http_401"),
        "timed": seeds("http_request_duration_seconds_count", **login),
        "gets": seeds("http_requests_total", **get),
        "metrics": seeds("http_requests_total", resource="unknown", method="get"),
    }
    api.post("/login", {"email": user.email, "password": PASSWORD}, format="json")
    api.post("/login", {"email": user.email, "password": "wrong one"}, format="json")
    api.get(f"/user/{user.pk}")  # 401 without a token, still user/get
    api.get("/metrics")
    assert seeds("http_requests_total", **login) == before["logins"] + 2
    assert seeds("http_request_duration_seconds_count", **login) == before["timed"] + 2
    assert seeds("http_request_duration_seconds_sum", **login) > 0
    assert seeds("http_requests_total_by_status_code", **login, status_code="http_201") == (
        before["created"] + 1
    )
    assert seeds("http_requests_total_by_status_code", **login, status_code="http_401") == (
        before["refused"] + 1
    )
    assert seeds("http_requests_total", **get) == before["gets"] + 1
    # /metrics itself is not counted, as the Rust service did not count it.
    assert seeds("http_requests_total", resource="unknown", method="get") == before["metrics"]
    text = api.get("/metrics").content.decode()
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert (
        'http_requests_total_by_status_code{method="login",resource="auth",status_code="http_201"} '
        in text
    )
    assert 'http_requests_total{method="login",resource="auth"} ' in text


@pytest.mark.parametrize(
    ("method", "route", "labels"),
    [
        ("POST", "user/data", ("data", "upload")),
        ("GET", "user/verify", ("user", "consume_verify")),
        ("POST", "user/password/reset", ("user", "create_otp")),
        ("GET", "user/sessions", ("unknown", "get")),
        ("PATCH", "user", ("unknown", "unknown")),
    ],
)
def test_rust_resource_and_method_per_route(method, route, labels):
    assert seed_labels(method, route) == labels


def test_rust_status_code_values_come_from_its_set():
    assert [seed_status(code) for code in (200, 204, 401, 409, 429, 503, 599, 302)] == [
        "http_200",
        "http_20x",
        "http_401",
        "http_40x",
        "http_40x",
        "http_503",
        "http_50x",
        "unsupported",
    ]
