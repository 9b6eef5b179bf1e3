"""With DEBUG=0 the service refuses to start on a missing secret, a dev key or a dev certificate."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from restapi.env import api_tls, env_str, is_dev_asset


def check_production_settings(settings: dict[str, Any]) -> None:
    if settings["DEBUG"]:
        return
    problems = []
    secret = settings["SECRET_KEY"]
    if secret == settings["DEV_SECRET_KEY"] or len(secret) < 50 or len(set(secret)) < 5:
        problems.append("DJANGO_SECRET_KEY must be a random value of at least 50 characters")
    keys = settings["MFA_ENCRYPTION_KEYS"]
    if not keys or settings["DEV_MFA_ENCRYPTION_KEY"] in keys:
        problems.append("MFA_ENCRYPTION_KEYS must hold your own Fernet keys (not development's)")
    if not settings["POSTGRES_ENDPOINT"]:
        problems.append("POSTGRES_ENDPOINT must be set (SQLite is for development only)")
    if not settings["ALLOWED_HOSTS"]:
        problems.append("DJANGO_ALLOWED_HOSTS must list the host names the service answers to")
    tls = api_tls()
    assets = {
        "TOKEN_ALGO_PRIVATE_KEY": settings["TOKEN_ALGO_PRIVATE_KEY"],
        "TOKEN_ALGO_PUBLIC_KEY": settings["TOKEN_ALGO_PUBLIC_KEY"],
        "API_TLS_CERT": tls.cert,
        "API_TLS_KEY": tls.key,
    }
    for name, path in assets.items():
        if not path.is_file():
            problems.append(f"{name}: {path} does not exist")
        elif is_dev_asset(path):
            problems.append(f"{name}: {path} is a development asset")
    if tls.client_auth and not env_str("API_TLS_CA"):
        problems.append("API_TLS_CLIENT_AUTH=1 needs API_TLS_CA")
    if problems:
        raise ImproperlyConfigured("Refusing to start with DEBUG=0: " + "; ".join(problems))
