import pytest
from django.core.management import CommandError, call_command

from tests.conftest import PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def test_create_admin_makes_a_new_admin(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    call_command("create_admin", "Ops@Example.com")
    admin = User.objects.get(email="ops@example.com")
    assert admin.role == "admin"
    assert admin.check_password(PASSWORD)


def test_create_admin_promotes_an_existing_user(user):
    call_command("create_admin", "ALICE@example.com")
    user.refresh_from_db()
    assert user.role == "admin"


def test_create_admin_refuses_a_weak_password(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "password")
    with pytest.raises(CommandError, match="password"):
        call_command("create_admin", "ops@example.com")
    assert not User.objects.exists()


def test_create_admin_finds_the_account_by_any_spelling_of_its_mailbox(make_user):
    user = make_user(email="ops@ss.de")
    call_command("create_admin", "Ops@\u00df.de")
    user.refresh_from_db()
    assert user.role == "admin"


def test_create_admin_refuses_a_domain_mail_cannot_reach():
    with pytest.raises(CommandError, match="mail can reach"):
        call_command("create_admin", "ops@a..b")
    assert not User.objects.exists()
