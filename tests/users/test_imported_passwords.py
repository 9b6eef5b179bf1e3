"""Passwords hashed by the Rust service (argon2i, one global salt) log in as they are, are
rehashed to argon2id at the first login, and one that today's rules refuse is flagged."""

import pytest

from tests.helpers import PASSWORD, client_for, login
from tests.seed import rust_hash
from users.models import TokenPurpose, User
from users.onetime import token_issue

pytestmark = pytest.mark.django_db

WEAK = "12345"  # the Rust service took anything of 4 characters or more


def imported(email: str, password: str) -> User:
    return User.objects.create(email=email, password=f"argon2{rust_hash(password)}")


def test_a_rust_hash_logs_in_and_is_rehashed_to_argon2id(api):
    user = imported("strong@example.com", PASSWORD)
    assert user.password.startswith("argon2$argon2i$v=19$m=4096,t=3,p=1$")
    response = login(api, user.email, PASSWORD)
    assert response.status_code == 201, response.content
    assert response.json()["password_change_required"] is False
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert user.check_password(PASSWORD) and not user.password_change_required


def test_a_weak_rust_password_logs_in_and_is_flagged_until_changed(api):
    user = imported("weak@example.com", WEAK)
    first = login(api, user.email, WEAK)
    assert first.status_code == 201
    assert first.json()["password_change_required"] is True
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    # The flag stays on later logins (the hash is now this service's) and on reads.
    assert login(api, user.email, WEAK).json()["password_change_required"] is True
    client = client_for(user)
    assert client.get(f"/user/{user.pk}").json()["password_change_required"] is True

    changed = client.put(
        "/user",
        {"user_id": user.pk, "password": PASSWORD, "current_password": WEAK},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["password_change_required"] is False
    user.refresh_from_db()
    assert not user.password_change_required


def test_a_wrong_password_changes_nothing(api):
    user = imported("wrong@example.com", WEAK)
    before = user.password
    assert login(api, user.email, "not the password").status_code == 401
    user.refresh_from_db()
    assert user.password == before and not user.password_change_required


def test_a_password_reset_clears_the_flag(api):
    user = imported("reset@example.com", WEAK)
    assert login(api, user.email, WEAK).json()["password_change_required"] is True
    code = token_issue(user=user, purpose=TokenPurpose.PASSWORD_RESET)
    changed = api.post(
        "/user/password/change",
        {"email": user.email, "token": code, "password": PASSWORD},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    user.refresh_from_db()
    assert not user.password_change_required


def test_own_hashes_are_never_checked_against_the_rules(api, user, settings):
    """A rehash after a change of argon2 parameters: the password met the rules when set."""
    settings.PASSWORD_ARGON2_MEMORY_KIB = 8192
    user.set_password(WEAK)
    user.save()
    settings.PASSWORD_ARGON2_MEMORY_KIB = 19456
    assert login(api, user.email, WEAK).json()["password_change_required"] is False
    user.refresh_from_db()
    assert "m=19456" in user.password
