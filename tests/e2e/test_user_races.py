"""Concurrent writes on one user, through the real gunicorn over TLS (security review, issue 11)."""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.fixtures.server import Server
from tests.helpers import PASSWORD, tokens_for
from users.models import OneTimeToken, Role, TokenPurpose, User, UserState

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a racing new passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def warm(server: Server) -> requests.Session:
    """A session whose TLS connection is already open, so that requests start on cue."""
    http = server.session()
    http.get(f"{server.url}/health/live")
    return http


def at_once(*calls: Callable[[], requests.Response]) -> list[requests.Response]:
    """Runs the calls in threads released together; their responses in order."""
    barrier = threading.Barrier(len(calls))
    responses: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        responses[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def later(call: Callable[[], requests.Response]) -> Callable[[], requests.Response]:
    # Long enough for the other request to have authenticated (loaded its copy of the
    # user), short against the two argon2 computations of a password change.
    def delayed() -> requests.Response:
        time.sleep(0.015)
        return call()

    return delayed


TRIALS = 8


def deactivation_race(server: Server, admin_token: str, user: User) -> tuple:
    """The owner changes their password while an admin deactivates them."""
    owner_http, admin_http = warm(server), warm(server)
    owner_token = tokens_for(user).token
    owner, deactivation = at_once(
        lambda: owner_http.put(
            f"{server.url}/user",
            json={"user_id": user.pk, "password": NEW_PASSWORD, "current_password": PASSWORD},
            headers=bearer(owner_token),
        ),
        later(
            lambda: admin_http.delete(
                f"{server.url}/user", json={"user_id": user.pk}, headers=bearer(admin_token)
            )
        ),
    )
    assert deactivation.status_code == 204, deactivation.text
    # 200: the change came first; 401: it found the owner deactivated (as the session
    # would have on the next request); 400: so did the current-password check.
    assert owner.status_code in (200, 400, 401), owner.text
    user.refresh_from_db()
    logins = [
        owner_http.post(
            f"{server.url}/login", json={"email": user.email, "password": password}
        ).status_code
        for password in (PASSWORD, NEW_PASSWORD)
    ]
    fresh_tokens_work = owner.status_code == 200 and (
        owner_http.get(
            f"{server.url}/user/{user.pk}", headers=bearer(owner.json()["token"])
        ).status_code
        == 200
    )
    return (
        owner.status_code,
        user.state,
        logins,
        fresh_tokens_work,
        user.check_password(NEW_PASSWORD),
    )


def test_deactivation_during_a_password_change_is_not_undone(server, password_hash):
    admin = User.objects.create(
        email="race-admin@example.com", password=password_hash, role="admin"
    )
    admin_token = tokens_for(admin).token
    outcomes = [
        deactivation_race(
            server,
            admin_token,
            User.objects.create(email=f"deact{trial}@example.com", password=password_hash),
        )
        for trial in range(TRIALS)
    ]
    # The deactivation came last or refused the change: it holds either way, and an
    # owner's fresh tokens from before it died with it.
    undone = sum(o[1] != UserState.DEACTIVATED for o in outcomes)
    assert undone == 0, f"deactivation undone in {undone} of {TRIALS}: {outcomes}"
    assert all(o[2] == [401, 401] and not o[3] for o in outcomes), str(outcomes)
    # A refused change set nothing.
    assert all(o[0] == 200 or not o[4] for o in outcomes), str(outcomes)


def demotion_race(server: Server, demoter_token: str, target: User) -> tuple:
    """An admin changes their own password while another admin demotes them."""
    own_http, demoter_http = warm(server), warm(server)
    own_token = tokens_for(target).token
    own, demotion = at_once(
        lambda: own_http.put(
            f"{server.url}/user",
            json={"user_id": target.pk, "password": NEW_PASSWORD, "current_password": PASSWORD},
            headers=bearer(own_token),
        ),
        later(
            lambda: demoter_http.put(
                f"{server.url}/user",
                json={"user_id": target.pk, "role": "user"},
                headers=bearer(demoter_token),
            )
        ),
    )
    assert demotion.status_code == 200, demotion.text
    assert own.status_code == 200, own.text
    target.refresh_from_db()
    return target.role, target.check_password(NEW_PASSWORD)


def test_demotion_during_an_admins_password_change_is_not_undone(server, password_hash):
    demoter = User.objects.create(email="demoter@example.com", password=password_hash, role="admin")
    demoter_token = tokens_for(demoter).token
    outcomes = [
        demotion_race(
            server,
            demoter_token,
            User.objects.create(
                email=f"demoted{trial}@example.com", password=password_hash, role=Role.ADMIN
            ),
        )
        for trial in range(TRIALS)
    ]
    # Neither write undid the other.
    lost = sum(o != (Role.USER, True) for o in outcomes)
    assert lost == 0, f"an update lost in {lost} of {TRIALS}: {outcomes}"


def live_links_after_parallel_resends(server: Server, user: User) -> int:
    token = tokens_for(user).token
    sessions = [warm(server) for _ in range(8)]
    responses = at_once(
        *(
            lambda http=http: http.post(f"{server.url}/user/verify/resend", headers=bearer(token))
            for http in sessions
        )
    )
    assert [r.status_code for r in responses] == [202] * 8, [r.text for r in responses]
    return OneTimeToken.objects.filter(
        user=user,
        purpose=TokenPurpose.VERIFY_EMAIL,
        used_at__isnull=True,
        cancelled_at__isnull=True,
    ).count()


def test_parallel_resends_leave_one_live_link(server, password_hash):
    live = [
        live_links_after_parallel_resends(
            server, User.objects.create(email=f"resend{trial}@example.com", password=password_hash)
        )
        for trial in range(3)
    ]
    assert live == [1, 1, 1]
