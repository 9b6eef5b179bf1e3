"""Work that must not slow or fail a request (sending email): one thread per process.

The executor is made on first use, so in gunicorn it lives in the worker that uses it
(threads do not survive fork). Its thread is not a daemon: a worker that exits finishes
what was queued first.
"""

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()


def _run(job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        job(*args)
    except Exception:
        # The job's name only: arguments may hold tokens or addresses.
        logger.exception("Background job %s failed", job.__qualname__)
    finally:
        close_old_connections()


def submit(job: Callable[..., Any], *args: Any) -> None:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="background")
        # In the submitter's context: the job's log lines carry its request's id.
        future = _executor.submit(contextvars.copy_context().run, _run, job, args)
        _pending.add(future)
    future.add_done_callback(_pending.discard)


def submit_after_commit(job: Callable[..., Any], *args: Any) -> None:
    """Runs the job once the current transaction has committed (never if it rolls back)."""
    transaction.on_commit(lambda: submit(job, *args))


def wait(timeout: float = 30) -> None:
    """Blocks until no job is pending, including jobs that jobs submitted (for tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _lock:
            pending = list(_pending)
        if not pending:
            return
        wait_futures(pending, timeout=deadline - time.monotonic())
