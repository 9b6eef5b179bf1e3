import os
import secrets
import shutil
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from auth.keys import write_key_pair
from restapi.settings.mfa import DEV_MFA_ENCRYPTION_KEY
from tests.fixtures.server import make_production_assets
from tests.helpers import BASE_DIR

START = "import django; django.setup(); print('started')"


def start_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TOKEN_", "API_"))}
    return subprocess.run(
        [sys.executable, "-c", START],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "restapi.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def production_assets(tmp_path):
    assets = make_production_assets(tmp_path)
    return {
        "DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "MFA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "api.example.com",
        "TOKEN_ALGO_PRIVATE_KEY": str(assets.jwt_private),
        "TOKEN_ALGO_PUBLIC_KEY": str(assets.jwt_public),
        "API_TLS_CERT": str(assets.api_cert),
        "API_TLS_KEY": str(assets.api_key),
    }


def test_production_starts_with_real_secrets(production_assets):
    result = start_with(production_assets)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "x" * 64}, "DJANGO_SECRET_KEY"),
        ({"MFA_ENCRYPTION_KEYS": ""}, "MFA_ENCRYPTION_KEYS"),
        ({"MFA_ENCRYPTION_KEYS": DEV_MFA_ENCRYPTION_KEY}, "MFA_ENCRYPTION_KEYS"),
        ({"POSTGRES_ENDPOINT": ""}, "POSTGRES_ENDPOINT"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        ({"TOKEN_ALGO_PRIVATE_KEY": "/nonexistent.pem"}, "TOKEN_ALGO_PRIVATE_KEY"),
        ({"API_TLS_CLIENT_AUTH": "1"}, "API_TLS_CA"),
        ({"API_TLS_CLIENT_AUTH": "true"}, "API_TLS_CA"),
    ],
)
def test_production_refuses_unsafe_settings(production_assets, change, complaint):
    result = start_with({**production_assets, **change})
    assert result.returncode != 0
    assert "Refusing to start with DEBUG=0" in result.stderr
    assert complaint in result.stderr


def test_production_refuses_dev_keys_and_certificates(production_assets, tmp_path):
    write_key_pair(tmp_path / "dev.pem", tmp_path / "dev.pub", dev=True)
    result = start_with({**production_assets, "TOKEN_ALGO_PRIVATE_KEY": str(tmp_path / "dev.pem")})
    assert "TOKEN_ALGO_PRIVATE_KEY" in result.stderr and "development asset" in result.stderr
    dev_cert = tmp_path / "tls" / "dev.crt"
    dev_cert.write_text("restapi development asset: never use in production\n")
    result = start_with({**production_assets, "API_TLS_CERT": str(dev_cert)})
    assert "API_TLS_CERT" in result.stderr and "development asset" in result.stderr


def test_check_deploy_is_clean_in_production(production_assets):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "restapi.settings", **production_assets},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"API_WORKERS": "1"}, os.cpu_count()),
        ({"API_WORKERS": str(os.cpu_count())}, 1),
        ({"API_WORKERS": str(4 * (os.cpu_count() or 1))}, 1),
        ({"API_WORKERS": "1", "PASSWORD_HASH_CONCURRENCY": "7"}, 7),
    ],
)
def test_the_workers_together_hash_as_many_at_once_as_there_are_cores(env, expected):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.PASSWORD_HASH_CONCURRENCY)",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "restapi.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split()[-1] == str(expected), result.stderr


@pytest.fixture
def checkout(tmp_path):
    """A copy of the restapi package in a fresh directory: its BASE_DIR (restapi/env.py)."""
    shutil.copytree(
        BASE_DIR / "restapi", tmp_path / "restapi", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def run_in(checkout, code, **env):
    """Python code run in the checkout, with its restapi package first on the path; the apps
    (for django.setup()) come from this one, after it."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "TOKEN_", "API_", "POSTGRES_", "DB_", "PYTHON"))
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout,
        env={**clean, "DEBUG": "1", "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("modules", "env"),
    [
        ("restapi.settings", {}),
        ("restapi.settings, restapi.settings.test", {"POSTGRES_ENDPOINT": "127.0.0.1:5432"}),
    ],
)
def test_importing_the_settings_makes_no_directory_and_prints_nothing(checkout, modules, env):
    located = run_in(checkout, "import restapi.env; print(restapi.env.BASE_DIR)")
    assert located.stdout.strip() == str(checkout), located.stderr
    before = sorted(checkout.rglob("*"))
    result = run_in(checkout, f"import {modules}", **env)
    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert sorted(checkout.rglob("*")) == before


def test_the_sqlite_fallback_makes_var_and_warns_when_first_opened(checkout):
    connect = (
        "import django; django.setup(); from django.db import connection; "
        "connection.ensure_connection(); connection.close(); connection.ensure_connection()"
    )
    result = run_in(
        checkout,
        connect,
        DJANGO_SETTINGS_MODULE="restapi.settings",
        PYTHONPATH=str(BASE_DIR),
    )
    assert result.returncode == 0, result.stderr
    database = checkout / "var" / "db.sqlite3"
    assert database.is_file()
    warning = f"POSTGRES_ENDPOINT is not set: using the embedded SQLite database {database}."
    assert result.stderr.count(warning) == 1, result.stderr
