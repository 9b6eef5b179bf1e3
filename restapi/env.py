"""Typed readers for environment variables, shared by the settings modules and gunicorn.

This module imports nothing of Django's settings, so gunicorn's config and the asset
generators can use it before Django is set up.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

TRUE_VALUES = {"1", "true", "yes", "on"}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in TRUE_VALUES


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_path(name: str, default: str) -> Path:
    """A path setting; relative paths are taken from the project directory (as the Rust
    service took them)."""
    path = Path(os.environ.get(name) or default)
    return path if path.is_absolute() else BASE_DIR / path


def env_optional_path(name: str) -> str:
    """A path setting with no default: empty when unset, else resolved like env_path."""
    return str(env_path(name, "")) if os.environ.get(name) else ""


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


@dataclass(frozen=True)
class ApiTls:
    """The API's TLS files (API_TLS_*), as gunicorn, the production check and the relay's
    metrics server all read them."""

    cert: Path
    key: Path
    ca: Path
    client_auth: bool


def api_tls() -> ApiTls:
    return ApiTls(
        cert=env_path("API_TLS_CERT", "./certs/tls/api/api.crt"),
        key=env_path("API_TLS_KEY", "./certs/tls/api/api.key"),
        ca=env_path("API_TLS_CA", "./certs/tls/api/api-ca.pem"),
        client_auth=env_bool("API_TLS_CLIENT_AUTH"),
    )


# The dev asset generators (manage.py generate_jwt_keys --dev, certs/generate_tls_assets.py)
# write this line above every PEM block they make; production refuses such files.
DEV_ASSET_MARKER = "restapi development asset: never use in production"


def is_dev_asset(path: Path) -> bool:
    try:
        return DEV_ASSET_MARKER in path.read_text(errors="replace")
    except OSError:
        return False
