"""Second factors against parallel clients, through the real gunicorn over TLS: guessed
codes evaluate no more than the account's backoff allows, and a recovery code works once
however many requests race for it (issue 16)."""

import threading
from collections.abc import Callable

import pyotp
import pytest

from kafka_events.models import OutboxEvent
from mfa.models import RecoveryCode
from tests.fixtures.server import Server
from tests.helpers import PASSWORD
from tests.mfa.test_totp import steady_now

pytestmark = pytest.mark.django_db(transaction=True)


def in_parallel(count: int, call: Callable[[int], int]) -> list[int]:
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def run(i: int) -> None:
        barrier.wait()
        statuses.append(call(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def enrolled(server: Server, email: str) -> tuple[int, str, list[str]]:
    """A registered user with TOTP on, through the API: id, secret, recovery codes."""
    http = server.session()
    user = http.post(f"{server.url}/user", json={"email": email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {user['token']}"}
    secret = http.post(f"{server.url}/user/mfa/totp", headers=headers).json()["secret"]
    code = pyotp.TOTP(secret).at(steady_now() - 30)
    confirmed = http.post(
        f"{server.url}/user/mfa/totp/confirm", headers=headers, json={"code": code}
    )
    assert confirmed.status_code == 200, confirmed.text
    return user["user_id"], secret, confirmed.json()["recovery_codes"]


def mfa_token(server: Server, email: str) -> str:
    first = server.login(email)
    assert first.status_code == 200, first.text
    return str(first.json()["mfa_token"])


def test_fifty_parallel_code_guesses_evaluate_five(server):
    user_id, secret, _ = enrolled(server, "guessed@example.com")
    token = mfa_token(server, "guessed@example.com")
    right = pyotp.TOTP(secret).now()
    wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != right][:50]

    def guess(i: int) -> int:
        body = {"mfa_token": token, "code": wrong[i]}
        return server.session().post(f"{server.url}/login/mfa", json=body).status_code

    statuses = in_parallel(50, guess)
    # Every evaluated code is a 401; every refused attempt a 429 before any code is looked at.
    assert statuses.count(401) == 5
    assert statuses.count(429) == 45
    failed = OutboxEvent.objects.filter(key=f"user-{user_id}", event_type="user.login_mfa_failed")
    assert failed.count() == 5


def test_twenty_parallel_uses_of_one_recovery_code_log_in_once(server):
    user_id, _, codes = enrolled(server, "recovered@example.com")
    tokens = [mfa_token(server, "recovered@example.com") for _ in range(20)]

    def use(i: int) -> int:
        body = {"mfa_token": tokens[i], "recovery_code": codes[0]}
        return server.session().post(f"{server.url}/login/mfa", json=body).status_code

    statuses = in_parallel(20, use)
    assert statuses.count(201) == 1
    # The others were refused: as a used code (401) or by the backoff they fed (429).
    assert set(statuses) - {201} <= {401, 429}
    assert RecoveryCode.objects.filter(user_id=user_id, used_at__isnull=False).count() == 1
