import threading

import pytest
from django.db import connection

from tests.helpers import PASSWORD, TOKEN_FIELDS, assert_error, claims
from users.models import User

pytestmark = pytest.mark.django_db


def register(api, **body):
    return api.post("/user", body, format="json")


def test_register_returns_user_shape_and_token(api):
    response = register(api, email="New.Person@Example.COM", password=PASSWORD)
    assert response.status_code == 201
    body = response.json()
    assert body.keys() >= TOKEN_FIELDS
    assert body["email"] == "new.person@example.com"
    assert (body["state"], body["verified"], body["role"]) == (0, 0, "user")
    assert body["created_at"].endswith("Z")
    token = claims(body["token"])
    assert token["sub"] == str(body["user_id"])
    assert token["email"] == "new.person@example.com"
    assert token["role"] == "user"
    assert token["org"] == "example.org"
    assert token["exp"] - token["iat"] == 900
    assert token["jti"]
    stored = User.objects.get(pk=body["user_id"])
    assert stored.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


def test_register_never_grants_admin(api):
    response = register(api, email="admin@example.com", password=PASSWORD, role="admin", state=1)
    assert response.status_code == 201
    assert response.json()["role"] == "user"
    assert User.objects.get(email="admin@example.com").role == "user"


def test_duplicate_email_is_a_conflict_whatever_its_case(api, user):
    response = register(api, email="ALICE@example.com", password=PASSWORD)
    assert_error(response, 409, "email_taken")
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "x@example.com"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "x@example.com", "password": "short1!"}, "password"),
        ({"email": "x@example.com", "password": "password123"}, "password"),
        ({"email": "x@example.com", "password": "12345678901234"}, "password"),
        ({"email": "jonathan.smithers@example.com", "password": "jonathan.smithers"}, "password"),
        ({"email": "x@example.com", "password": "a" * 1025}, "password"),
        ({"email": "x@example.com", "password": ["list"]}, "password"),
    ],
)
def test_invalid_registration_is_400_and_creates_nothing(api, body, field):
    response = register(api, **body)
    error = assert_error(response, 400, "validation_error")
    assert field in error["errors"]
    assert User.objects.count() == 0


def test_long_unicode_password_is_kept_whole(api):
    password = "ünïcødé-密码-🔑" * 60
    assert len(password) <= 1024
    assert register(api, email="u@example.com", password=password).status_code == 201
    user = User.objects.get(email="u@example.com")
    assert user.check_password(password)
    # No truncation: a long common prefix is not enough.
    assert not user.check_password(password[:-1])
    assert not user.check_password(password[:72])


def test_whitespace_in_password_is_significant(api):
    assert register(api, email="w@example.com", password=f"  {PASSWORD}  ").status_code == 201
    user = User.objects.get(email="w@example.com")
    assert user.check_password(f"  {PASSWORD}  ")
    assert not user.check_password(PASSWORD)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_registrations_of_one_email_make_one_account(api):
    barrier = threading.Barrier(2)
    statuses = []

    def attempt(spelling):
        try:
            barrier.wait()
            statuses.append(
                register(api.__class__(), email=spelling, password=PASSWORD).status_code
            )
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=(spelling,))
        for spelling in ("race@example.com", "RACE@example.com")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409]
    assert User.objects.filter(email="race@example.com").count() == 1
