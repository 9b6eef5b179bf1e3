"""The process's privacy job runner: one thread that makes exports, deletes expired ones
and carries out due erasures (privacy.services.jobs_run_once). Every web worker runs one
(PRIVACY_JOBS_FROM_WEB), or `manage.py privacy_jobs` does; jobs are claimed with a lease,
so any number of them share the work."""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from privacy import services

logger = logging.getLogger(__name__)

# How long a stopping worker waits for its runner's current job.
STOP_WAIT_SECONDS = 1.0


class Runner:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Starts the thread in this process (call it after fork)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="privacy-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Stops once the current job is done, waiting a moment at most: a shutting-down
        worker's time is the outbox publisher's, and a job still running (an export of a
        few GB) is resumed by another runner when its lease runs out."""
        self._stop.set()
        services.DUE.set()
        if self._thread is not None:
            self._thread.join(min(timeout, STOP_WAIT_SECONDS))
            self._thread = None

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = services.jobs_run_once()
            except Exception:
                logger.exception("A privacy job failed; it is resumed when its lease runs out")
                worked = False
            finally:
                close_old_connections()
            if not worked:
                services.DUE.wait(settings.PRIVACY_JOBS_IDLE_SECONDS)
                services.DUE.clear()


runner = Runner()
