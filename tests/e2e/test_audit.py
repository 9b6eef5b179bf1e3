"""The audit trail through the real gunicorn over TLS: the entry of a request names the
client's address, its user agent and its X-Request-ID, and GET /user/audit shows it."""

import uuid

import pytest

from audit.models import AuditEntry
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_entry_names_the_clients_address_agent_and_request_id(server):
    email = f"audit-{uuid.uuid4().hex[:8]}@example.com"
    token = server.register(email)
    http = server.session()
    request_id = f"e2e-{uuid.uuid4().hex}"
    headers = {"User-Agent": "audit-e2e/1.0", "X-Request-ID": request_id}
    wrong = http.post(
        f"{server.url}/login", json={"email": email, "password": PASSWORD + "x"}, headers=headers
    )
    assert wrong.status_code == 401 and wrong.headers["X-Request-ID"] == request_id
    entry = AuditEntry.objects.get(request_id=request_id)
    assert (entry.action, entry.actor_kind, entry.actor_id) == (
        "user.login_failed",
        "anonymous",
        None,
    )
    assert (entry.client_ip, entry.user_agent) == ("127.0.0.1", "audit-e2e/1.0")

    page = http.get(
        f"{server.url}/user/audit",
        params={"type": "user.login_failed"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert page.status_code == 200, page.text
    [shown] = page.json()["entries"]
    assert (shown["id"], shown["request_id"], shown["client_ip"], shown["user_agent"]) == (
        entry.pk,
        request_id,
        "127.0.0.1",
        "audit-e2e/1.0",
    )
    created = AuditEntry.objects.get(subject_id=entry.subject_id, action="user.created")
    assert created.request_id and created.request_id != request_id
