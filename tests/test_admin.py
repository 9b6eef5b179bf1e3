import pytest
from django.test import Client

from auth.models import Session
from kafka_events.models import OutboxEvent
from tests.conftest import tokens_for
from tests.helpers import counted
from users.signals import announce

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(admin):
    client = Client()
    client.force_login(admin)
    return client


def test_admin_pages_need_an_admin(user, admin):
    anonymous = Client().get("/admin/")
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    plain = Client()
    plain.force_login(user)
    assert plain.get("/admin/users/user/").status_code == 302
    assert Client().get("/admin/login/").status_code == 200


def test_operators_search_users(operator, user, other_user):
    response = operator.get("/admin/users/user/", {"q": "alice"})
    assert response.status_code == 200
    assert b"alice@example.com" in response.content
    assert b"bob@example.com" not in response.content


def test_deactivate_and_reactivate_actions(operator, user):
    sid = tokens_for(user)
    response = operator.post(
        "/admin/users/user/", {"action": "deactivate", "_selected_action": [user.pk]}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.state == 1
    assert Session.objects.get().revoked_reason == "deactivated"
    operator.post("/admin/users/user/", {"action": "reactivate", "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert user.state == 0
    assert sid.token


def test_revoke_sessions_action(operator, user):
    tokens_for(user)
    session = Session.objects.get()
    revoked = counted("restapi_sessions_revoked_total", reason="admin")
    response = operator.post(
        "/admin/authn/session/", {"action": "revoke", "_selected_action": [session.pk]}
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.revoked_reason == "admin" and session.revoked_at is not None
    assert counted("restapi_sessions_revoked_total", reason="admin") == revoked + 1
    # Revoking it again changes and counts nothing.
    operator.post("/admin/authn/session/", {"action": "revoke", "_selected_action": [session.pk]})
    assert counted("restapi_sessions_revoked_total", reason="admin") == revoked + 1


@pytest.mark.parametrize(
    "page",
    ["/admin/authn/session/", "/admin/userdata/userdata/", "/admin/kafka_events/outboxevent/"],
)
def test_operator_pages_render(operator, page):
    assert operator.get(page).status_code == 200


def test_outbox_retry_action(operator, user, kafka):
    announce(user, "user.updated")
    row = OutboxEvent.objects.get()
    OutboxEvent.objects.update(next_attempt_at="2100-01-01T00:00:00Z", attempts=3)
    operator.post(
        "/admin/kafka_events/outboxevent/", {"action": "retry_now", "_selected_action": [row.pk]}
    )
    row.refresh_from_db()
    assert row.next_attempt_at.year < 2100
