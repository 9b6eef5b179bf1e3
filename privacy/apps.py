from typing import Any

from django.apps import AppConfig
from django.conf import settings


def _runner_start(**kwargs: Any) -> None:
    from privacy.runner import runner

    if settings.PRIVACY_JOBS_FROM_WEB:
        runner.start()


def _runner_stop(*, timeout: float, **kwargs: Any) -> None:
    from privacy.runner import runner

    runner.stop(timeout=timeout)


class PrivacyConfig(AppConfig):
    name = "privacy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from privacy.metrics import ErasuresCollector
        from restapi.lifecycle import worker_started, worker_stopping
        from restapi.metrics import collector_register

        collector_register(ErasuresCollector())
        worker_started.connect(_runner_start, dispatch_uid="privacy.runner_start")
        worker_stopping.connect(_runner_stop, dispatch_uid="privacy.runner_stop")
