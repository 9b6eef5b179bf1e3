from typing import Any

from django.apps import AppConfig


def _storage_warm(**kwargs: Any) -> None:
    """Makes the storage client in the worker (botocore loads its service models, tens of
    MiB) rather than in its first upload."""
    from userdata import storage

    storage.backend()


class UserdataConfig(AppConfig):
    name = "userdata"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from restapi.lifecycle import worker_started
        from userdata import receivers  # noqa: F401  (audits uploads and deletions)

        worker_started.connect(_storage_warm, dispatch_uid="userdata.storage_warm")
