"""The product's Prometheus metrics, and /metrics.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR is set (restapi/gunicorn_conf.py) and /metrics
sums what every worker process wrote there; without it (manage.py, tests in-process)
the process's own registry is served.
"""

import hmac
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from cryptography import x509
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from restapi.codes import ErrorCode
from restapi.env import api_tls
from restapi.errors import error_body, json_error, method_not_allowed

logger = logging.getLogger(__name__)

# The Rust service's name, kept: requests by method, route pattern and status.
HTTP_REQUESTS = Counter(
    "restapi_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "restapi_http_request_duration_seconds", "HTTP request duration", ["method", "route"]
)
# The Rust service's three families, with its label names and values, for its dashboards.
SEED_REQUESTS = Counter("http_requests", "Number of HTTP requests.", ["resource", "method"])
# A counter's samples are named <name>_total, which would break this exact name; a gauge
# summed over every process that ever ran counts the same.
SEED_REQUESTS_BY_STATUS = Gauge(
    "http_requests_total_by_status_code",
    "Number of HTTP requests.",
    ["resource", "method", "status_code"],
    multiprocess_mode="sum",
)
SEED_DURATION = Histogram(
    "http_request_duration_seconds", "HTTP request latencies in seconds", ["resource", "method"]
)
# What each app adds (restapi/ knows no app): its collectors, read at scrape time.
APP_COLLECTORS: list[Collector] = []


def collector_register(collector: Collector) -> None:
    """For an app's ready(): a collector every /metrics registry includes."""
    APP_COLLECTORS.append(collector)


class CertificateCollector(Collector):
    """When the API's TLS certificate expires: read at scrape time, so a renewed
    certificate shows at the next scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            certificate = x509.load_pem_x509_certificate(api_tls().cert.read_bytes())
        except (OSError, ValueError):
            logger.warning("Cannot read the TLS certificate for its expiry metric")
            return
        yield GaugeMetricFamily(
            "restapi_tls_certificate_expiry_timestamp_seconds",
            "When the API's TLS certificate (API_TLS_CERT) expires, in seconds since the epoch",
            value=certificate.not_valid_after_utc.timestamp(),
        )


def gunicorn_processes() -> dict[int, str]:
    """This worker's gunicorn master and every live worker of it, by pid: their role."""
    master = os.getppid()
    processes = {master: "master"}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                # The command name, in parentheses, may hold anything; the parent follows.
                parent = int(stat.read().rpartition(b")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == master:
            processes[int(entry.name)] = "worker"
    return processes


def process_reader(pid: int) -> ProcessCollector:
    return ProcessCollector(pid=lambda: pid, registry=None)


class GunicornProcessCollector(Collector):
    """process_* (memory, CPU, open file descriptors, start time) of the master and of each
    worker, labelled by `pid` and `role`. The multiprocess collector cannot give them: its
    files hold what processes counted, and these are read from /proc, here by the worker
    that answers the scrape. A worker that has exited is gone from the next scrape, so a
    scrape has workers + 1 pids at most; a restarted worker starts new series (under its
    new pid), and the old ones go stale in Prometheus."""

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for pid, role in gunicorn_processes().items():
            for family in process_reader(pid).collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {"pid": str(pid), "role": role}, sample.value)
        yield from families.values()


class _ThisProcess(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry() -> CollectorRegistry:
    collected = CollectorRegistry()
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        collected.register(GunicornProcessCollector())
    else:
        # The default registry has this process's own process_* already.
        collected.register(_ThisProcess())
    collected.register(CertificateCollector())
    for collector in APP_COLLECTORS:
        collected.register(collector)
    return collected


UNAUTHORIZED_MESSAGE = "A metrics token is required."


def token_accepted(authorization: str) -> bool:
    """Whether this Authorization header may read metrics (any may without METRICS_TOKEN)."""
    token = settings.METRICS_TOKEN
    given = authorization.removeprefix("Bearer ")
    return not token or hmac.compare_digest(given.encode(), token.encode())


# Scrapers send no cookies, so there is nothing for CSRF to protect.
@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not token_accepted(request.META.get("HTTP_AUTHORIZATION", "")):
        return json_error(
            status_code=401, msg=UNAUTHORIZED_MESSAGE, code=ErrorCode.NOT_AUTHENTICATED
        )
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed(request, allowed=["GET", "HEAD"])
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


class _QuietHandler(WSGIRequestHandler):
    # Each connection has its own thread; a stalled client gives it up after this long.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


def serve_metrics(endpoint: str) -> ThreadingWSGIServer:
    """/metrics for a process without the web server (manage.py kafka_relay): HTTPS with
    the API's certificate (and client certificates when the API requires them), and
    METRICS_TOKEN, as the web workers serve it."""
    metrics_app = make_wsgi_app(registry())

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not token_accepted(environ.get("HTTP_AUTHORIZATION", "")):
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [
                json.dumps(error_body(UNAUTHORIZED_MESSAGE, ErrorCode.NOT_AUTHENTICATED)).encode()
            ]
        try:
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        finally:
            # Each scrape runs in a thread of its own: hand its connection (the backlog
            # query's) back to the pool, as Django does at the end of a request.
            connections.close_all()

    host, _, port = endpoint.rpartition(":")
    server = make_server(host, int(port), app, ThreadingWSGIServer, handler_class=_QuietHandler)
    tls = api_tls()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert, tls.key)
    if tls.client_auth:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(tls.ca)
    # The handshake runs in the connection's thread, not in the one that accepts.
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


# Every label of a request metric takes its values from a fixed set: a client choosing
# the method, path or anything else must not be able to make new series. The route is
# the URL pattern (a fixed set) or "unmatched".
METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
STATUSES = frozenset(str(status.value) for status in HTTPStatus)
OTHER = "other"


def method_label(method: str | None) -> str:
    return method if method in METHODS else OTHER


def status_label(status_code: int | str) -> str:
    text = str(status_code)
    return text if text in STATUSES else OTHER


# The Rust service's (resource, method) per route, as its router named them; the routes
# it did not have are ("unknown", the HTTP method), and it did not count /metrics.
SEED_ROUTES = {
    ("POST", "user"): ("user", "post"),
    ("PUT", "user"): ("user", "put"),
    ("DELETE", "user"): ("user", "delete"),
    ("GET", "user/<int:user_id>"): ("user", "get"),
    ("POST", "user/search"): ("user", "search"),
    ("GET", "user/verify"): ("user", "consume_verify"),
    ("POST", "user/verify/resend"): ("user", "create_verify"),
    ("POST", "user/password/reset"): ("user", "create_otp"),
    ("POST", "user/password/change"): ("user", "consume_otp"),
    ("POST", "login"): ("auth", "login"),
    ("POST", "user/data"): ("data", "upload"),
    ("PUT", "user/data"): ("data", "put"),
    ("POST", "user/data/search"): ("data", "search"),
    ("GET", "user/data/<int:data_id>"): ("data", "get"),
    ("DELETE", "user/data/<int:data_id>"): ("data", "delete"),
}
SEED_METHODS = {"GET": "get", "POST": "post", "PUT": "put", "DELETE": "delete"}
# Its status_code values: these exactly, the rest of a class as http_20x/40x/50x.
SEED_STATUSES = frozenset({200, 201, 202, 203, 400, 401, 402, 403, 404, 405, *range(500, 505)})
SEED_STATUS_CLASSES = {2: "http_20x", 4: "http_40x", 5: "http_50x"}


def seed_labels(method: str | None, route: str) -> tuple[str, str]:
    seed = SEED_ROUTES.get((method or "", route))
    return seed or ("unknown", SEED_METHODS.get(method or "", "unknown"))


def seed_status(status_code: int) -> str:
    if status_code in SEED_STATUSES:
        return f"http_{status_code}"
    return SEED_STATUS_CLASSES.get(status_code // 100, "unsupported")


class MetricsMiddleware:
    """Counts a request once in each family: the product's by route and the Rust
    service's by resource."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        match = request.resolver_match
        route = match.route if match is not None and match.route != "^" else "unmatched"
        method = method_label(request.method)
        HTTP_REQUESTS.labels(method, route, status_label(response.status_code)).inc()
        HTTP_DURATION.labels(method, route).observe(seconds)
        if route != "metrics":
            resource, seed_method = seed_labels(request.method, route)
            SEED_REQUESTS.labels(resource, seed_method).inc()
            SEED_REQUESTS_BY_STATUS.labels(
                resource, seed_method, seed_status(response.status_code)
            ).inc()
            SEED_DURATION.labels(resource, seed_method).observe(seconds)
        return response
