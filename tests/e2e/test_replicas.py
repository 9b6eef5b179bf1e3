"""Two replicas (two gunicorn instances, two workers each) on one database, as a
deployment with several pods runs: revocation and brute-force limits hold across them."""

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from tests.fixtures.server import Server
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def replicas(
    new_server: Callable[..., AbstractContextManager[Server]],
) -> Iterator[tuple[Server, Server]]:
    with new_server() as first, new_server() as second:
        yield first, second


def test_a_session_revoked_through_one_replica_is_refused_by_the_other(replicas):
    first, second = replicas
    token = first.register("replicated@example.com")
    auth = {"Authorization": f"Bearer {token}"}
    me = second.session().get(f"{second.url}/user/sessions", headers=auth)
    assert me.status_code == 200
    assert first.session().post(f"{first.url}/logout", headers=auth).status_code == 204
    for replica in (second, first):
        refused = replica.session().get(f"{replica.url}/user/sessions", headers=auth)
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_token"


def test_parallel_wrong_passwords_split_between_replicas_evaluate_five_hashes(replicas):
    first, second = replicas
    second.register("split-target@example.com")
    barrier = threading.Barrier(50)
    statuses: list[int] = []

    def guess(number: int) -> None:
        replica = (first, second)[number % 2]
        http = replica.session()
        body = {"email": "split-target@example.com", "password": f"{PASSWORD} {number}"}
        barrier.wait()
        statuses.append(http.post(f"{replica.url}/login", json=body).status_code)

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (statuses.count(401), statuses.count(429)) == (5, 45)
