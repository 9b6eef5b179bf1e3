import re

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kafka_events.models import OutboxEvent
from tests.helpers import PASSWORD, TOKEN_FIELDS, assert_error, claims, login
from users.hashers import SettingsArgon2PasswordHasher
from users.models import User, UserState

pytestmark = pytest.mark.django_db


@pytest.fixture
def hash_calls(monkeypatch):
    """Counts argon2 work (hashing and verifying) while still doing it."""
    calls = []
    for name in ("encode", "verify"):
        real = getattr(SettingsArgon2PasswordHasher, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(SettingsArgon2PasswordHasher, name, spy)
    return calls


def test_login_returns_user_shape_and_token(api, user):
    response = login(api, "Alice@Example.com", PASSWORD)
    assert response.status_code == 201
    body = response.json()
    assert body.keys() >= TOKEN_FIELDS
    assert body["user_id"] == user.pk
    assert claims(body["token"])["sub"] == str(user.pk)
    user.refresh_from_db()
    assert user.last_login is not None


def test_every_login_failure_is_the_same_401_after_one_hash(api, user, hash_calls):
    deactivated = User.objects.create(
        email="gone@example.com", password=user.password, state=UserState.DEACTIVATED
    )
    failures = [
        login(api, "alice@example.com", "wrong password here"),
        login(api, "nobody@example.com", PASSWORD),
        login(api, deactivated.email, PASSWORD),
        login(api, "not an email", PASSWORD),
    ]
    bodies = [assert_error(response, 401, "invalid_credentials") for response in failures]
    assert all(body == bodies[0] for body in bodies)
    # Each failure paid for exactly one argon2 computation, so timing does not tell them apart.
    assert hash_calls == ["verify", "encode", "verify", "encode"]


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "alice@example.com"}, {"password": PASSWORD}, {"email": "a", "password": ""}],
)
def test_missing_fields_are_400(api, user, body):
    assert_error(api.post("/login", body, format="json"), 400, "validation_error")


def test_overlong_password_is_refused_without_hashing(api, user, hash_calls):
    assert_error(login(api, "alice@example.com", "x" * 1025), 400, "validation_error")
    assert hash_calls == []


def test_hash_with_other_parameters_is_upgraded_at_login(api, user, settings):
    settings.PASSWORD_ARGON2_MEMORY_KIB = 8192
    user.password = make_password(PASSWORD)
    user.save()
    assert "m=8192" in user.password
    settings.PASSWORD_ARGON2_MEMORY_KIB = 19456
    assert login(api, user.email, PASSWORD).status_code == 201
    user.refresh_from_db()
    assert "argon2id$v=19$m=19456,t=2,p=1$" in user.password
    assert user.check_password(PASSWORD)


def test_pbkdf2_hash_is_upgraded_to_argon2id_at_login(api, user):
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save()
    assert login(api, user.email, PASSWORD).status_code == 201
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")


def statements(api, path, body):
    """The SQL a request ran, each reduced to its verb and table (values left out)."""
    with CaptureQueriesContext(connection) as captured:
        api.post(path, body, format="json")
    shapes = []
    for query in captured.captured_queries:
        words = re.sub(r'"', "", query["sql"]).split()
        table = next((w for w in words if w in TABLES), "")
        shapes.append(f"{words[0]} {table}".strip())
    return shapes


TABLES = {"users", "login_throttle", "rate_buckets", "kafka_outbox", "user_tokens"}


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_does_the_same_work_for_known_and_unknown_accounts(api, user, kafka):
    body = {"password": "a wrong password"}
    known = statements(api, "/login", {**body, "email": user.email})
    unknown = statements(api, "/login", {**body, "email": "nobody@example.com"})
    # The known account's event commits; the unknown one's stand-in is rolled back.
    assert [s.replace("RELEASE", "ROLLBACK") for s in known] == unknown
    assert "INSERT kafka_outbox" in known
    events = OutboxEvent.objects.values_list("event_type", "key")
    assert list(events) == [("user.login_failed", f"user-{user.pk}")]


@pytest.mark.django_db(transaction=True)
def test_a_wrong_reset_code_does_the_same_work_for_known_and_unknown_accounts(api, user, kafka):
    body = {"token": "x" * 43, "password": "a new passphrase 7"}
    known = statements(api, "/user/password/change", {**body, "email": user.email})
    unknown = statements(api, "/user/password/change", {**body, "email": "nobody@example.com"})
    assert known == unknown
    assert not OutboxEvent.objects.exists()
