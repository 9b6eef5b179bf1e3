"""Brute-force and abuse protection, shared by every worker and replica through the database.

Each check is one atomic statement (an upsert whose WHERE decides, on the tables of
auth.models.RateBucket and LoginThrottle), so parallel requests cannot take more than the
limit allows. Times are Unix seconds from the application clock. The SQL is PostgreSQL's;
the SQLite fallback gets LEAST and GREATEST from auth.apps.
"""

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from auth.metrics import LOCKOUTS
from auth.models import LoginThrottle
from restapi.exceptions import RateLimited


@dataclass(frozen=True)
class Rate:
    capacity: int
    per_seconds: float

    @classmethod
    def parse(cls, text: str) -> "Rate":
        """ "N/S": a burst of N, refilled at N per S seconds."""
        capacity, _, seconds = text.partition("/")
        return cls(capacity=int(capacity), per_seconds=float(seconds))

    @property
    def refill_per_second(self) -> float:
        return self.capacity / self.per_seconds


BUCKET_TAKE = """
INSERT INTO rate_buckets AS b (key, tokens, updated_at)
VALUES (%(key)s, %(capacity)s - 1, %(now)s)
ON CONFLICT (key) DO UPDATE SET
    tokens = LEAST(%(capacity)s, b.tokens + (%(now)s - b.updated_at) * %(rate)s) - 1,
    updated_at = %(now)s
WHERE b.tokens + (%(now)s - b.updated_at) * %(rate)s >= 1
RETURNING tokens
"""


def bucket_take(*, action: str, key: str) -> None:
    """Takes one token from the (action, key) bucket, or raises 429 with Retry-After.

    The key is a client IP, or whatever else the action is counted by (an account)."""
    rate = Rate.parse(settings.RATE_LIMITS[action])
    params: dict[str, Any] = {
        "key": f"{action}:{key}",
        "capacity": rate.capacity,
        "now": time.time(),
        "rate": rate.refill_per_second,
    }
    with connection.cursor() as cursor:
        cursor.execute(BUCKET_TAKE, params)
        if cursor.fetchone() is not None:
            return
    raise RateLimited(wait=math.ceil(1 / rate.refill_per_second))


LOGIN_CLAIM = """
INSERT INTO login_throttle AS t (key, failures, next_attempt_at) VALUES (%(key)s, 1, %(now)s)
ON CONFLICT (key) DO UPDATE SET
    failures = t.failures + 1,
    next_attempt_at = %(now)s + CASE
        WHEN t.failures + 1 < %(free)s THEN 0
        ELSE LEAST(%(cap)s, POWER(2, t.failures + 1 - %(free)s))
    END
WHERE t.next_attempt_at <= %(now)s
RETURNING failures
"""


def account_key(email: str) -> str:
    # Keyed, so the table does not list the addresses people tried.
    digest = hmac.new(settings.SECRET_KEY.encode(), email.encode(), hashlib.sha256)
    return digest.hexdigest()


def login_attempt_claim(*, email: str) -> None:
    """Counts an attempt as a failure before the hash is evaluated, or raises 429.

    After LOGIN_FREE_FAILURES consecutive failures, the next attempt is evaluated only
    2^(n - free) seconds after the last one (capped). Claiming first is what stops 50
    parallel guesses from all being hashed: the row lock orders them, and the WHERE
    refuses every claim inside the wait.
    """
    free = settings.LOGIN_FREE_FAILURES
    cap = settings.LOGIN_MAX_WAIT_SECONDS
    key = account_key(email)
    params: dict[str, Any] = {
        "key": key,
        "now": time.time(),
        "free": free,
        "cap": cap,
    }
    with connection.cursor() as cursor:
        cursor.execute(LOGIN_CLAIM, params)
        if cursor.fetchone() is not None:
            return
    LOCKOUTS.inc()
    wait_until = (
        LoginThrottle.objects.filter(key=key).values_list("next_attempt_at", flat=True).first()
    )
    raise RateLimited(wait=max(1, math.ceil((wait_until or 0) - time.time())))


LOGIN_FAILED = """
UPDATE login_throttle SET next_attempt_at = GREATEST(next_attempt_at, %(now)s + CASE
    WHEN failures < %(free)s THEN 0
    ELSE LEAST(%(cap)s, POWER(2, failures - %(free)s))
END)
WHERE key = %(key)s
"""


def login_attempt_failed(*, email: str) -> None:
    """The evaluated failure: the account's wait restarts from now, when the hash said no.

    It is a write whether or not the account exists, so a caller can put it in one
    transaction with the `user.login_failed` event of a known account and pay the same
    commit for an unknown one.
    """
    params: dict[str, Any] = {
        "key": account_key(email),
        "now": time.time(),
        "free": settings.LOGIN_FREE_FAILURES,
        "cap": settings.LOGIN_MAX_WAIT_SECONDS,
    }
    with connection.cursor() as cursor:
        cursor.execute(LOGIN_FAILED, params)


LOGIN_UNCLAIM = """
UPDATE login_throttle SET
    failures = failures - 1,
    next_attempt_at = LEAST(next_attempt_at, %(now)s + CASE
        WHEN failures - 1 < %(free)s THEN 0
        ELSE LEAST(%(cap)s, POWER(2, failures - 1 - %(free)s))
    END)
WHERE key = %(key)s AND failures > 0
"""


def login_attempt_unclaimed(*, email: str) -> None:
    """Gives back a claimed attempt that taught a guesser nothing: its password was never
    evaluated (the hashing slots were full), or it was right for an account whose login a
    second factor completes. The count goes back, and so does the wait its claim added, so
    a flood the service sheds or a right password does not make the owner wait longer."""
    params: dict[str, Any] = {
        "key": account_key(email),
        "now": time.time(),
        "free": settings.LOGIN_FREE_FAILURES,
        "cap": settings.LOGIN_MAX_WAIT_SECONDS,
    }
    with connection.cursor() as cursor:
        cursor.execute(LOGIN_UNCLAIM, params)


def login_attempt_succeeded(*, email: str) -> None:
    LoginThrottle.objects.filter(key=account_key(email)).delete()
