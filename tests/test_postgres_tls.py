"""POSTGRES_TLS_CA turns on TLS with verify-full, against a throwaway TLS-only cluster."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.server import dev_tls_assets
from tests.helpers import BASE_DIR, free_port

QUERY = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); "
    "cursor.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'); "
    "print('ssl', cursor.fetchone()[0])"
)


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL server binaries ({name}) are not installed")
    return found[-1]


def as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory):
    # Not under pytest's temporary directory: the postgres user cannot enter root's.
    root = Path(tempfile.mkdtemp(prefix="restapi-pgtls-"))
    dev_tls_assets(root / "tls")
    other = tmp_path_factory.mktemp("othertls")
    dev_tls_assets(other)
    shutil.chown(root, "postgres")
    for path in (root / "tls").rglob("*"):
        shutil.chown(path, "postgres")
    data, port = root / "data", free_port()
    as_postgres(pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    # Only TLS connections are accepted over TCP.
    (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c ssl=on "
        f"-c ssl_cert_file={root}/tls/api/api.crt -c ssl_key_file={root}/tls/api/api.key"
    )
    log = str(root / "postgres.log")
    as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-w", "-l", log, "-o", options, "start")
    try:
        yield {
            "port": port,
            "ca": root / "tls" / "api" / "api-ca.pem",
            "wrong_ca": other / "api" / "api-ca.pem",
        }
    finally:
        as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root)


def connect(tls_postgres, ca):
    return subprocess.run(
        [sys.executable, "-c", QUERY],
        cwd=BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "restapi.settings",
            "DEBUG": "1",
            "POSTGRES_ENDPOINT": f"localhost:{tls_postgres['port']}",
            "POSTGRES_USERNAME": "postgres",
            "DB_NAME": "postgres",
            "POSTGRES_TLS_CA": str(ca),
            "POSTGRES_POOL_TIMEOUT_SECONDS": "2",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_connects_over_verified_tls(tls_postgres):
    result = connect(tls_postgres, tls_postgres["ca"])
    assert result.returncode == 0, result.stderr
    assert "ssl True" in result.stdout


def test_refuses_a_server_certificate_from_another_ca(tls_postgres):
    result = connect(tls_postgres, tls_postgres["wrong_ca"])
    assert result.returncode != 0
    assert "SSL error" in result.stderr, result.stderr
    assert "ssl True" not in result.stdout
