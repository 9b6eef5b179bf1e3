"""Metrics summed over gunicorn workers, JSON access logs with request ids."""

import json
import re
import threading
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


def fresh_connection_get(server, path, **headers):
    # A new connection each time, so requests spread over the workers.
    return requests.get(
        f"{server.url}{path}",
        verify=str(server.ca),
        headers={"Connection": "close", **headers},
        timeout=10,
    )


def test_metrics_are_the_sum_over_every_worker(server):
    threads = [
        threading.Thread(target=fresh_connection_get, args=(server, "/health/live"))
        for _ in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    files = {
        path.name for path in Path(server.env["PROMETHEUS_MULTIPROC_DIR"]).glob("counter_*.db")
    }
    worker_pids = {int(re.search(r"_(\d+)\.db", name).group(1)) for name in files}
    assert len(worker_pids & set(server.worker_pids())) == 2, "both workers should have served"
    text = fresh_connection_get(server, "/metrics").text
    count = next(
        float(line.split()[1])
        for line in text.splitlines()
        if line.startswith('http_requests_total{method="GET",route="health/live",status="200"}')
    )
    assert count == 40


def test_access_log_is_json_with_the_request_id(server):
    response = fresh_connection_get(server, "/health/live", **{"X-Request-ID": "e2e-trace-7"})
    assert response.headers["X-Request-ID"] == "e2e-trace-7"
    log = server.log_after('"request_id": "e2e-trace-7"')
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    record = next(line for line in lines if line["request_id"] == "e2e-trace-7")
    assert (record["method"], record["path"], record["status"]) == ("GET", "/health/live", 200)
    assert record["duration_ms"] >= 0
