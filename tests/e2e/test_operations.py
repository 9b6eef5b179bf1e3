"""Metrics summed over gunicorn workers, process metrics per process, JSON access logs
with request ids, and workers that give back the memory of password hashing."""

import json
import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

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
        if line.startswith(
            'restapi_http_requests_total{method="GET",route="health/live",status="200"}'
        )
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


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


def test_password_hashing_leaves_no_memory_behind_in_the_workers(server):
    """argon2's 19 MiB per hash, in every request thread: given back after each hash
    (restapi/memory.py), not kept by each thread's malloc arena."""
    emails = [f"memory-{number}@example.com" for number in range(8)]
    for email in emails:
        server.register(email)
    before = {pid: rss_kib(pid) for pid in server.worker_pids()}

    def six_logins(email: str) -> None:
        with server.session() as http:
            for _ in range(6):
                assert server.login(email, http=http).status_code == 201

    with ThreadPoolExecutor(len(emails)) as clients:
        list(clients.map(six_logins, emails))
    growth = {pid: (rss_kib(pid) - kib) // 1024 for pid, kib in before.items()}
    print(f"\nworker RSS growth after 48 logins: {growth} MiB")
    assert max(growth.values()) < 40


def scrape(server) -> dict[str, list]:
    text = fresh_connection_get(server, "/metrics").text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


PROCESS_FAMILIES = {
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_cpu_seconds",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
}


def process_pids(families) -> dict[str, dict[str, str]]:
    """For each process_* family: pid -> role."""
    return {
        name: {sample.labels["pid"]: sample.labels["role"] for sample in families[name]}
        for name in PROCESS_FAMILIES
    }


def test_process_metrics_for_the_master_and_each_worker(server):
    families = scrape(server)
    expected = {str(server.pid): "master"} | {str(pid): "worker" for pid in server.worker_pids()}
    assert len(expected) == 3
    assert process_pids(families) == dict.fromkeys(PROCESS_FAMILIES, expected)
    memory = {s.labels["pid"]: s.value for s in families["process_resident_memory_bytes"]}
    assert all(value > 10 * 1024 * 1024 for value in memory.values())
    started = {s.labels["pid"]: s.value for s in families["process_start_time_seconds"]}
    assert all(time.time() - 3600 < value <= time.time() for value in started.values())
    assert all(s.value > 0 for s in families["process_open_fds"])


def test_tls_expiry_and_signing_key_age_are_exported(server, jwt_keys):
    families = scrape(server)
    certificate = x509.load_pem_x509_certificate(Path(server.env["API_TLS_CERT"]).read_bytes())
    [expiry] = families["restapi_tls_certificate_expiry_timestamp_seconds"]
    assert expiry.value == certificate.not_valid_after_utc.timestamp()
    [age] = families["restapi_jwt_signing_key_age_seconds"]
    # The session's key pair was made when the test session started.
    assert 0 <= age.value < 3 * 3600


def test_a_restarted_worker_leaves_the_process_metrics_with_its_pid(server):
    """Last in the module: it kills one of the server's workers."""
    gone = server.worker_pids()[0]
    os.kill(gone, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while gone in (workers := server.worker_pids()) or len(workers) < 2:
        assert time.monotonic() < deadline, "gunicorn did not replace the worker"
        time.sleep(0.1)
    pids = process_pids(scrape(server))["process_resident_memory_bytes"]
    assert set(pids) == {str(server.pid)} | {str(pid) for pid in workers}
    assert str(gone) not in pids
