from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_least(sender: Any, connection: Any, **kwargs: Any) -> None:
    # The rate-limit SQL uses PostgreSQL's LEAST and GREATEST; SQLite only has
    # multi-argument MIN and MAX.
    if connection.vendor == "sqlite":
        connection.connection.create_function("LEAST", -1, min, deterministic=True)
        connection.connection.create_function("GREATEST", -1, max, deterministic=True)


class AuthConfig(AppConfig):
    name = "auth"
    # "auth" is django.contrib.auth's label.
    label = "authn"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from auth import schema  # noqa: F401  (registers the OpenAPI security scheme)
        from auth.metrics import SigningKeyCollector
        from restapi.metrics import collector_register

        collector_register(SigningKeyCollector())

        connection_created.connect(_sqlite_least)
