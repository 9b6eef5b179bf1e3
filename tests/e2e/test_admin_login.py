"""The Django admin's login behind the same brute-force limits as the API, through the real
gunicorn over TLS (security review, issue 11)."""

import re
import threading

import pytest
import requests

from tests.fixtures.server import Server
from tests.helpers import PASSWORD
from users.models import Role, User

pytestmark = pytest.mark.django_db(transaction=True)

INVALID_LOGIN = "Please enter the correct email and password"
TRY_LATER = "Too many attempts"


def admin_login(server: Server, http: requests.Session, email: str, password: str):
    """One try at the Django admin's login form, as a browser makes it."""
    page = http.get(f"{server.url}/admin/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return http.post(
        f"{server.url}/admin/login/",
        data={
            "csrfmiddlewaretoken": csrf,
            "username": email,
            "password": password,
            "next": "/admin/",
        },
        headers={"Referer": f"{server.url}/admin/login/"},
        allow_redirects=False,
    )


def hashes_evaluated(server: Server) -> float:
    """argon2 computations so far, summed over every worker (from /metrics)."""
    text = server.session().get(f"{server.url}/metrics").text
    match = re.search(r"^restapi_password_hash_seconds_count (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def operator(password_hash):
    return User.objects.create(email="ops@example.com", password=password_hash, role=Role.ADMIN)


def test_admin_login_is_behind_the_account_backoff(server, operator):
    http = server.session()
    for _ in range(20):
        wrong = admin_login(server, http, operator.email, "not the password")
        assert wrong.status_code == 200
    right = admin_login(server, http, operator.email, PASSWORD)
    assert right.status_code == 200, "the right password got in after 20 wrong ones"
    assert right.headers["Content-Type"].startswith("text/html")
    assert TRY_LATER in right.text
    assert http.get(f"{server.url}/admin/", allow_redirects=False).status_code == 302


def test_a_lockout_from_the_api_login_holds_in_the_admin(server, operator):
    http = server.session()
    for _ in range(5):
        body = {"email": operator.email, "password": "not the password"}
        assert http.post(f"{server.url}/login", json=body).status_code == 401
    refused = admin_login(server, http, operator.email, PASSWORD)
    assert refused.status_code == 200
    assert TRY_LATER in refused.text
    assert "/admin/" not in refused.headers.get("Location", "")


def test_fifty_parallel_wrong_admin_passwords_evaluate_five_hashes(server, operator):
    sessions = [server.session() for _ in range(50)]
    before = hashes_evaluated(server)
    barrier, pages = threading.Barrier(50), []

    def guess(i: int) -> None:
        http = sessions[i]
        page = http.get(f"{server.url}/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        barrier.wait()
        pages.append(
            http.post(
                f"{server.url}/admin/login/",
                data={"csrfmiddlewaretoken": csrf, "username": operator.email, "password": f"g{i}"},
                headers={"Referer": f"{server.url}/admin/login/"},
                allow_redirects=False,
            ).text
        )

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    evaluated = hashes_evaluated(server) - before
    assert sum(INVALID_LOGIN in page for page in pages) == 5
    assert sum(TRY_LATER in page for page in pages) == 45
    assert evaluated == 5
