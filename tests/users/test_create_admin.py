import io

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from kafka_events.models import OutboxEvent
from restapi.commands import EXIT_BAD_INPUT
from tests.helpers import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def events_on(settings):
    """Events written to the outbox (no broker needed: nothing is published here)."""
    settings.KAFKA_ENABLED = True
    settings.KAFKA_PUBLISH_EVENTS = True


def create_admin(*args):
    out = io.StringIO()
    call_command("create_admin", *args, stdout=out)
    return out.getvalue()


def test_create_admin_makes_a_new_admin(monkeypatch, deliver, events_on):
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    with deliver():
        said = create_admin("Ops@Example.com")
    admin = User.objects.get(email="ops@example.com")
    assert admin.role == "admin"
    assert admin.check_password(PASSWORD)
    assert said == (
        f"Created ops@example.com (user_id {admin.pk}) as an admin. A verification link was "
        "sent to it.\n"
    )
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    assert list(OutboxEvent.objects.values_list("event_type", flat=True)) == ["user.created"]


def test_create_admin_promotes_an_existing_user(user, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "another passphrase here")
    said = create_admin("ALICE@example.com")
    user.refresh_from_db()
    assert user.role == "admin"
    assert user.check_password(PASSWORD)
    assert said == (
        f"Promoted alice@example.com (user_id {user.pk}) to admin. Its password is unchanged.\n"
    )
    assert create_admin("alice@example.com") == (
        f"alice@example.com (user_id {user.pk}) is already an admin.\n"
    )


def test_create_admin_says_a_promoted_account_is_deactivated(make_user):
    user = make_user(email="gone@example.com", state=1)
    assert create_admin("gone@example.com") == (
        f"Promoted gone@example.com (user_id {user.pk}) to admin. The account is deactivated: "
        "it cannot log in.\n"
    )


def test_create_admin_refuses_a_weak_password_in_plain_words(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "password")
    with pytest.raises(CommandError) as refused:
        call_command("create_admin", "ops@example.com")
    assert str(refused.value) == "password: This password is too common."
    assert refused.value.returncode == EXIT_BAD_INPUT
    assert not User.objects.exists()


def test_create_admin_finds_the_account_by_any_spelling_of_its_mailbox(make_user):
    user = make_user(email="ops@ss.de")
    call_command("create_admin", "Ops@\u00df.de")
    user.refresh_from_db()
    assert user.role == "admin"


# Each is refused by registration (POST /user) with a 400 on `email`.
NOT_ADDRESSES = [
    "not-an-email",
    "ops@a..b",
    "ops@",
    "@example.com",
    "ops@example.com ",
    "two@at@example.com",
    f"{'x' * 250}@example.com",
    "",
]


@pytest.mark.parametrize("email", NOT_ADDRESSES)
def test_create_admin_refuses_what_registration_refuses(api, monkeypatch, email):
    response = api.post("/user", {"email": email, "password": PASSWORD}, format="json")
    assert response.status_code == 400 and "email" in response.json()["errors"]
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    with pytest.raises(CommandError) as refused:
        call_command("create_admin", email)
    assert str(refused.value).startswith("email: ")
    assert refused.value.returncode == EXIT_BAD_INPUT
    assert not User.objects.exists()
    assert not mail.outbox


def test_create_admin_needs_a_password_from_somewhere(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="set ADMIN_PASSWORD, or run the command in a terminal"):
        call_command("create_admin", "ops@example.com")
    assert not User.objects.exists()
