import threading
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher

from restapi.exceptions import Overloaded
from restapi.slots import take_or_wait
from users.metrics import HASH_SECONDS


@cache
def _hash_slots(
    size: int, waiting: int
) -> tuple[threading.BoundedSemaphore, threading.BoundedSemaphore]:
    """The process's hash slots, and the places to wait for one."""
    return threading.BoundedSemaphore(size), threading.BoundedSemaphore(waiting)


class SettingsArgon2PasswordHasher(Argon2PasswordHasher):
    """argon2id with the cost from settings; Django rehashes at login when the cost changed.

    It keeps Django's "argon2" algorithm name, so hashes made by Django's own hasher (and
    argon2i ones) verify and are upgraded on the next login (must_update compares params).

    Each hash takes PASSWORD_ARGON2_MEMORY_KIB of memory, so a process runs at most
    PASSWORD_HASH_CONCURRENCY at once; a caller that waits PASSWORD_HASH_WAIT_SECONDS
    without a slot gets 503 instead of pushing the process out of memory, and so does one
    that finds PASSWORD_HASH_MAX_WAITING callers waiting already.
    """

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.PASSWORD_ARGON2_MEMORY_KIB

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.PASSWORD_ARGON2_TIME_COST

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.PASSWORD_ARGON2_PARALLELISM

    def _bounded(self, work: Any, *args: Any) -> Any:
        slots, waiting = _hash_slots(
            settings.PASSWORD_HASH_CONCURRENCY, settings.PASSWORD_HASH_MAX_WAITING
        )
        # Past PASSWORD_HASH_MAX_WAITING waiters, logins would take the threads every other
        # request needs.
        if not take_or_wait(slots, waiting, settings.PASSWORD_HASH_WAIT_SECONDS):
            raise Overloaded()
        try:
            with HASH_SECONDS.time():
                return work(*args)
        finally:
            slots.release()

    def encode(self, password: str, salt: str) -> str:
        return self._bounded(super().encode, password, salt)  # type: ignore[no-any-return]

    def verify(self, password: str, encoded: str) -> bool:
        return self._bounded(super().verify, password, encoded)  # type: ignore[no-any-return]
