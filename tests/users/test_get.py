import pytest

from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_user_reads_themselves(user_client, user):
    response = user_client.get(f"/user/{user.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "user_id": user.pk,
        "email": "alice@example.com",
        "state": 0,
        "verified": 0,
        "role": "user",
        "pending_email": None,
        "password_change_required": False,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
        "msg": "success",
    }
    assert "argon2" not in response.content.decode()  # no hash, under any name


def test_another_users_id_is_the_same_404_as_a_missing_one(user_client, other_user):
    hidden = assert_error(user_client.get(f"/user/{other_user.pk}"), 404, "not_found")
    missing = assert_error(user_client.get("/user/987654"), 404, "not_found")
    assert hidden == missing


def test_admin_reads_anyone(admin_client, other_user):
    response = admin_client.get(f"/user/{other_user.pk}")
    assert response.status_code == 200
    assert response.json()["email"] == other_user.email


@pytest.mark.parametrize("path", ["/user/987654", "/user/99999999999999999999999", "/user/0"])
def test_admin_gets_404_for_ids_that_do_not_exist(admin_client, path):
    assert_error(admin_client.get(path), 404, "not_found")


def test_non_numeric_id_is_404(user_client):
    assert_error(user_client.get("/user/abc"), 404, "not_found")


def test_no_token_is_401(api, user):
    assert_error(api.get(f"/user/{user.pk}"), 401, "not_authenticated")
