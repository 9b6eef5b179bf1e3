import pytest

from audit.models import AuditEntry
from tests.helpers import PASSWORD, assert_error

pytestmark = pytest.mark.django_db


def delete(client, **body):
    return client.delete("/user", body, format="json")


def test_user_deactivates_themselves(user_client, user, api):
    response = delete(user_client, user_id=user.pk)
    assert response.status_code == 204
    assert response.content == b""
    user.refresh_from_db()
    assert user.state == 1
    assert_error(user_client.get(f"/user/{user.pk}"), 401, "invalid_token")
    login = api.post("/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert_error(login, 401, "invalid_credentials")


def test_another_users_id_is_404_and_changes_nothing(user_client, other_user):
    assert_error(delete(user_client, user_id=other_user.pk), 404, "not_found")
    other_user.refresh_from_db()
    assert other_user.state == 0


def test_admin_deactivates_another_user(admin_client, other_user):
    assert delete(admin_client, user_id=other_user.pk).status_code == 204
    other_user.refresh_from_db()
    assert other_user.state == 1


@pytest.mark.parametrize("body", [{}, {"user_id": "x"}, {"user_id": -1}])
def test_invalid_body_is_400(user_client, user, body):
    assert_error(delete(user_client, **body), 400, "validation_error")
    user.refresh_from_db()
    assert user.state == 0


def test_no_token_is_401(api, user):
    assert_error(delete(api, user_id=user.pk), 401, "not_authenticated")


def test_deactivating_a_deactivated_user_writes_and_announces_nothing(admin_client, other_user):
    assert delete(admin_client, user_id=other_user.pk).status_code == 204
    other_user.refresh_from_db()
    deactivated_at = other_user.updated_at
    assert delete(admin_client, user_id=other_user.pk).status_code == 204
    other_user.refresh_from_db()
    assert other_user.updated_at == deactivated_at
    entries = AuditEntry.objects.filter(subject_id=other_user.pk, action="user.deactivated")
    assert entries.count() == 1
