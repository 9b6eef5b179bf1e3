"""One account per mailbox: addresses are stored and looked up as the mail layer spells
their domain (IDNA 2003, what Django's mail sends to)."""

import importlib

import pytest
from django.apps import apps
from django.core import mail
from django.core.mail.message import sanitize_address
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from auth.models import Session
from tests.helpers import PASSWORD, assert_error, tokens_for
from users.models import MalformedEmail, User, normalize_email

pytestmark = pytest.mark.django_db

FULL_WIDTH_EXAMPLE = "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45"  # "example" in full-width letters


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("X@SS.de", "x@ss.de"),
        ("x@\u00df.de", "x@ss.de"),  # ß
        (f"x@{FULL_WIDTH_EXAMPLE}.com", "x@example.com"),
        ("x@example\u3002com", "x@example.com"),  # an ideographic full stop
        ("J\u00f6rg@B\u00fccher.DE", "j\u00f6rg@xn--bcher-kva.de"),
        ("j\u00f6rg@XN--BCHER-KVA.de", "j\u00f6rg@xn--bcher-kva.de"),
        ("  x@example.com ", "x@example.com"),
        ("not an email", "not an email"),
    ],
)
def test_the_domain_is_spelled_as_mail_is_sent_to_it(given, stored):
    assert normalize_email(given) == stored
    if "@" in given:
        assert sanitize_address(given.strip(), "utf-8").lower().endswith(stored.split("@")[1])


@pytest.mark.parametrize(
    "given", ["x@a..b", "x@" + "a" * 64 + ".com", "x@" + ".".join(["a" * 63] * 4)]
)
def test_a_domain_mail_cannot_reach_is_malformed(given):
    with pytest.raises(MalformedEmail):
        normalize_email(given)


def register(api, email):
    return api.post("/user", {"email": email, "password": PASSWORD}, format="json")


@pytest.mark.parametrize("spelling", ["x@\u00df.de", f"x@{FULL_WIDTH_EXAMPLE}.com"])
def test_one_mailbox_registers_once(api, spelling):
    first = "x@ss.de" if "\u00df" in spelling else "x@example.com"
    assert register(api, first).status_code == 201
    assert_error(register(api, spelling), 409, "email_taken")
    assert User.objects.count() == 1


def test_an_idn_address_is_stored_as_mail_sends_to_it(api):
    response = register(api, "new@B\u00fccher.de")
    assert response.status_code == 201
    assert response.json()["email"] == "new@xn--bcher-kva.de"


@pytest.mark.parametrize("spelling", ["x@SS.de", "x@\u00df.de", "X@\u00df.DE", "x@\uff33\uff33.de"])
def test_every_spelling_of_the_mailbox_logs_in(api, make_user, spelling):
    user = make_user(email="x@ss.de")
    response = api.post("/login", {"email": spelling, "password": PASSWORD}, format="json")
    assert response.status_code == 201
    assert response.json()["user_id"] == user.pk


@pytest.mark.parametrize("email", ["x@a..b", "x@" + "a" * 64 + ".com"])
def test_a_malformed_domain_in_a_login_is_just_a_failed_login(api, user, email, monkeypatch):
    hashed = []
    monkeypatch.setattr(
        "users.hashers.SettingsArgon2PasswordHasher.encode",
        lambda self, password, salt: hashed.append(1) or "argon2$x",
    )
    response = api.post("/login", {"email": email, "password": PASSWORD}, format="json")
    assert_error(response, 401, "invalid_credentials")
    assert hashed == [1]  # the same one stand-in hash as an unknown address


@pytest.mark.django_db(transaction=True)
def test_a_reset_for_another_spelling_reaches_the_account(api, make_user, deliver):
    make_user(email="x@ss.de")
    with deliver():
        api.post("/user/password/reset", {"email": "x@\u00df.de"}, format="json")
    assert [m.to for m in mail.outbox] == [["x@ss.de"]]


def test_an_email_change_to_another_spelling_of_a_taken_address_sends_no_link(
    make_user, user, deliver, api
):
    make_user(email="x@example.com")
    with deliver():
        body = {
            "user_id": user.pk,
            "email": f"x@{FULL_WIDTH_EXAMPLE}.com",
            "current_password": PASSWORD,
        }
        response = api.put(
            "/user", body, format="json", HTTP_AUTHORIZATION=f"Bearer {tokens_for(user).token}"
        )
    assert response.json()["pending_email"] == "x@example.com"
    to_owner = [m for m in mail.outbox if m.to == ["x@example.com"]]
    assert len(to_owner) == 1 and "/user/verify" not in to_owner[0].body


migration = importlib.import_module("users.migrations.0004_normalize_email_domains")


def insert_raw(email, **fields):
    """A row as an older version stored it (no normalisation on save)."""
    return User.objects.create(email=email, password="x", **fields)


def test_the_migration_normalises_and_resolves_collisions(capsys):
    kept_canonical = insert_raw("x@\u00df.de")  # older, but another row has the spelling
    canonical = insert_raw("x@ss.de")
    oldest = insert_raw(f"y@{FULL_WIDTH_EXAMPLE}.com")
    newer = insert_raw("y@example\u3002com")
    alone = insert_raw("z@B\u00fccher.de".lower(), pending_email="p@\u00df.de")
    untouched = insert_raw("plain@example.com")
    tokens_for(newer)
    migration.normalize(apps, None)
    rows = {u.pk: (u.email, u.state) for u in User.objects.all()}
    assert rows[canonical.pk] == ("x@ss.de", 0)
    assert rows[kept_canonical.pk] == ("x@\u00df.de", 1)
    assert rows[oldest.pk] == ("y@example.com", 0)
    assert rows[newer.pk] == ("y@example\u3002com", 1)
    assert rows[alone.pk] == ("z@xn--bcher-kva.de", 0)
    assert rows[untouched.pk] == ("plain@example.com", 0)
    assert User.objects.get(pk=alone.pk).pending_email == "p@ss.de"
    assert Session.objects.get().revoked_reason == "email_collision"
    printed = capsys.readouterr().out
    assert f"user {kept_canonical.pk}:" in printed and f"user {newer.pk}:" in printed


@pytest.mark.django_db(transaction=True)
def test_the_migration_runs_forward_from_the_previous_schema():
    executor = MigrationExecutor(connection)
    executor.migrate([("users", "0003_onetime_tokens")])
    old_apps = executor.loader.project_state([("users", "0003_onetime_tokens")]).apps
    OldUser = old_apps.get_model("users", "User")
    OldUser.objects.create(email="x@\u00df.de", password="x")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert User.objects.get().email == "x@ss.de"
