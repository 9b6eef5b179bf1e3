import pytest

from tests.helpers import PASSWORD, assert_error, client_for, login
from users.models import User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a completely new passphrase"


def put(client, **body):
    return client.put("/user", body, format="json")


def test_user_changes_own_email_with_current_password(user_client, user, settings):
    settings.USER_EMAIL_VERIFICATION_ENABLED = False
    response = put(
        user_client, user_id=user.pk, email="Alice.New@Example.com", current_password=PASSWORD
    )
    assert response.status_code == 200
    assert response.json()["email"] == "alice.new@example.com"
    user.refresh_from_db()
    assert user.email == "alice.new@example.com"


def test_user_changes_own_password_with_current_password(user_client, user, api):
    response = put(user_client, user_id=user.pk, password=NEW_PASSWORD, current_password=PASSWORD)
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert login(api, user.email, NEW_PASSWORD).status_code == 201


@pytest.mark.parametrize("current", [None, "", "not my password"])
def test_own_email_or_password_change_needs_the_current_password(user_client, user, current):
    extra = {} if current is None else {"current_password": current}
    for change in ({"email": "x@example.com"}, {"password": NEW_PASSWORD}):
        response = put(user_client, user_id=user.pk, **change, **extra)
        error = assert_error(response, 400, "validation_error")
        assert "current_password" in error["errors"]
    user.refresh_from_db()
    assert user.email == "alice@example.com"
    assert user.check_password(PASSWORD)


def test_new_password_must_pass_the_validators(user_client, user):
    response = put(user_client, user_id=user.pk, password="password", current_password=PASSWORD)
    assert "password" in assert_error(response, 400, "validation_error")["errors"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_email_taken_by_another_account_is_409_when_changes_are_immediate(
    user_client, user, other_user, settings
):
    settings.USER_EMAIL_VERIFICATION_ENABLED = False
    response = put(user_client, user_id=user.pk, email="BOB@example.com", current_password=PASSWORD)
    assert_error(response, 409, "email_taken")
    user.refresh_from_db()
    assert user.email == "alice@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user_id"),
        ({"user_id": "one"}, "user_id"),
        ({"user_id": 0}, "user_id"),
        ({"user_id": 2**63}, "user_id"),
        ({"email": "nope"}, "email"),
        ({"state": 2}, "state"),
        ({"role": "superuser"}, "role"),
    ],
)
def test_invalid_update_is_400(user_client, user, body, field):
    body = {"user_id": user.pk, **body} if field != "user_id" else body
    error = assert_error(put(user_client, **body), 400, "validation_error")
    assert field in error["errors"]


@pytest.mark.parametrize("change", [{"state": 1}, {"role": "admin"}, {"state": 0}])
def test_user_cannot_change_state_or_role(user_client, user, change):
    assert_error(put(user_client, user_id=user.pk, **change), 403, "permission_denied")
    user.refresh_from_db()
    assert (user.state, user.role) == (0, "user")


def test_another_users_id_is_404_and_changes_nothing(user_client, other_user):
    response = put(user_client, user_id=other_user.pk, email="stolen@example.com")
    assert_error(response, 404, "not_found")
    other_user.refresh_from_db()
    assert other_user.email == "bob@example.com"


def test_admin_changes_another_users_email_role_and_state(admin_client, other_user):
    response = put(
        admin_client, user_id=other_user.pk, email="robert@example.com", role="admin", state=1
    )
    assert response.status_code == 200
    other_user.refresh_from_db()
    assert (other_user.email, other_user.role, other_user.state) == (
        "robert@example.com",
        "admin",
        1,
    )


def test_admin_reactivates_a_user_who_can_then_log_in(admin_client, other_user, api):
    other_user.state = 1
    other_user.save()
    assert login(api, other_user.email).status_code == 401
    assert put(admin_client, user_id=other_user.pk, state=0).status_code == 200
    assert login(api, other_user.email).status_code == 201


def test_admin_changing_own_password_still_needs_current_password(admin_client, admin):
    response = put(admin_client, user_id=admin.pk, password=NEW_PASSWORD)
    assert_error(response, 400, "validation_error")


def test_no_token_is_401(api, user):
    assert_error(put(api, user_id=user.pk, email="x@example.com"), 401, "not_authenticated")


def test_deactivated_users_token_is_401(user):
    client = client_for(user)
    User.objects.filter(pk=user.pk).update(state=1)
    assert_error(put(client, user_id=user.pk, email="x@example.com"), 401, "invalid_token")
