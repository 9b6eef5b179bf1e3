"""Every write decides on the user's row as it is when it writes, and writes only what it
changes: a write that ran meanwhile (here, made to run at the worst moment) is kept."""

import pytest
from django.contrib.auth.hashers import make_password

from auth import services as auth_services
from auth.models import Session
from restapi.exceptions import InvalidAccessToken, InvalidOneTimeToken
from tests.helpers import PASSWORD, assert_error, tokens_for
from users import services
from users.models import OneTimeToken, Role, TokenPurpose, User, UserState
from users.onetime import token_issue

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a completely new passphrase"


def meanwhile(monkeypatch, target, name, change):
    """`target.name` makes `change` (another request's write) before doing its own work."""
    real = getattr(target, name)

    def interleaved(*args, **kwargs):
        change()
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, interleaved)


def test_an_owners_change_after_a_deactivation_changes_nothing(admin):
    stale = User.objects.get(pk=admin.pk)
    services.user_deactivate(actor=admin, user=admin)
    with pytest.raises(InvalidAccessToken):
        services.user_update(actor=stale, user=stale, role=Role.USER)
    admin.refresh_from_db()
    assert (admin.state, admin.role) == (UserState.DEACTIVATED, Role.ADMIN)


def test_a_deactivation_during_a_password_change_holds_and_gets_no_tokens(user, monkeypatch):
    tokens_for(user)
    sid = Session.objects.get().pk
    stale = User.objects.get(pk=user.pk)
    # The admin's deactivation lands while the owner's new password is being hashed.
    meanwhile(
        monkeypatch,
        services,
        "make_password",
        lambda: services.user_deactivate(actor=user, user=user),
    )
    with pytest.raises(InvalidAccessToken):
        services.user_update(
            actor=stale,
            user=stale,
            actor_session=sid,
            password=NEW_PASSWORD,
            current_password=PASSWORD,
        )
    user.refresh_from_db()
    assert user.state == UserState.DEACTIVATED
    assert user.check_password(PASSWORD)
    assert Session.objects.get().revoked_reason == "deactivated"


def test_a_demotion_during_an_admins_password_change_holds(admin, make_user, monkeypatch):
    demoter = make_user(role=Role.ADMIN)
    stale = User.objects.get(pk=admin.pk)
    meanwhile(
        monkeypatch,
        services,
        "make_password",
        lambda: services.user_update(actor=demoter, user=admin, role=Role.USER),
    )
    user, _ = services.user_update(
        actor=stale, user=stale, password=NEW_PASSWORD, current_password=PASSWORD
    )
    admin.refresh_from_db()
    assert (admin.role, user.role) == (Role.USER, Role.USER)
    assert admin.check_password(NEW_PASSWORD)


def test_an_admins_change_keeps_a_password_changed_meanwhile(admin, user):
    stale = User.objects.get(pk=user.pk)
    User.objects.filter(pk=user.pk).update(password=make_password(NEW_PASSWORD))
    services.user_update(actor=admin, user=stale, role=Role.ADMIN)
    services.user_deactivate(actor=stale, user=stale)
    services.user_set_role(user=stale, role=Role.USER)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert (user.role, user.state) == (Role.USER, UserState.DEACTIVATED)


def test_a_verification_keeps_a_role_changed_meanwhile(user, monkeypatch):
    token = token_issue(user=user, purpose=TokenPurpose.VERIFY_EMAIL)
    meanwhile(
        monkeypatch,
        services,
        "token_use",
        lambda: User.objects.filter(pk=user.pk).update(role=Role.ADMIN),
    )
    services.user_verify(user_id=user.pk, token=token)
    user.refresh_from_db()
    assert (user.verified, user.role) == (1, Role.ADMIN)


def test_a_reset_refuses_an_account_deactivated_meanwhile(user, monkeypatch):
    token = token_issue(user=user, purpose=TokenPurpose.PASSWORD_RESET)
    meanwhile(
        monkeypatch,
        services,
        "make_password",
        lambda: services.user_deactivate(actor=user, user=user),
    )
    with pytest.raises(InvalidOneTimeToken):
        services.password_reset_complete(email=user.email, token=token, password=NEW_PASSWORD)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert OneTimeToken.objects.get().used_at is None


def after_the_password_check(monkeypatch, user, **change):
    """The user's row changes (by another request) right after a login checked its password."""
    real_check = services.password_check

    def check_then_change(**kwargs):
        checked = real_check(**kwargs)
        User.objects.filter(pk=user.pk).update(**change)
        return checked

    monkeypatch.setattr(services, "password_check", check_then_change)


def test_a_login_refuses_an_account_deactivated_after_its_password_check(api, user, monkeypatch):
    after_the_password_check(monkeypatch, user, state=UserState.DEACTIVATED)
    body = {"email": user.email, "password": PASSWORD}
    assert_error(api.post("/login", body, format="json"), 401, "invalid_credentials")
    assert not Session.objects.exists()


def test_a_login_token_carries_the_role_as_it_is_now(api, user, monkeypatch):
    after_the_password_check(monkeypatch, user, role=Role.ADMIN)
    body = {"email": user.email, "password": PASSWORD}
    assert api.post("/login", body, format="json").json()["role"] == Role.ADMIN


def test_a_rehash_at_login_never_overwrites_a_newer_password(user, settings):
    settings.PASSWORD_ARGON2_MEMORY_KIB = 8192
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD))
    stale = User.objects.get(pk=user.pk)
    settings.PASSWORD_ARGON2_MEMORY_KIB = 19456
    User.objects.filter(pk=user.pk).update(password=make_password(NEW_PASSWORD))
    # The old password was right for the copy this check read, and its hash is outdated.
    assert stale.check_password(PASSWORD)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)


def test_a_password_change_from_a_revoked_session_gets_no_fresh_tokens(user):
    tokens_for(user)
    sid = Session.objects.get().pk
    stale = User.objects.get(pk=user.pk)
    auth_services.user_logout(user=user, session_id=sid)
    with pytest.raises(InvalidAccessToken):
        services.user_update(
            actor=stale,
            user=stale,
            actor_session=sid,
            password=NEW_PASSWORD,
            current_password=PASSWORD,
        )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
