import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from auth.models import Session
from tests.helpers import (
    PASSWORD,
    assert_error,
    assert_status,
    claims,
    client_for,
    counted,
    login,
    tokens_for,
)

pytestmark = pytest.mark.django_db


def refresh(api, token):
    return api.post("/login/refresh", {"refresh": token}, format="json")


def me(api, user, token):
    return api.get(f"/user/{user.pk}", HTTP_AUTHORIZATION=f"Bearer {token}")


def session_of(token):
    return Session.objects.get(pk=claims(token)["sid"])


def test_login_starts_a_session_with_refresh_token(api, user):
    issued = counted("restapi_tokens_issued_total", kind="access")
    body = assert_status(login(api, user.email), 201)
    assert counted("restapi_tokens_issued_total", kind="access") == issued + 1
    session = session_of(body["token"])
    assert session.user_id == user.pk
    assert session.client_ip == "127.0.0.1"
    assert body["refresh"].startswith(session.pk.hex + ".0.")
    lifetime = session.expires_at - session.created_at
    assert abs(lifetime.total_seconds() - 2592000) < 5


def test_refresh_rotates_the_refresh_token(api, user):
    first = assert_status(login(api, user.email), 201)
    response = refresh(api, first["refresh"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert claims(second["token"])["sid"] == claims(first["token"])["sid"]
    assert me(api, user, second["token"]).status_code == 200
    third = refresh(api, second["refresh"]).json()
    assert third["refresh"] not in (first["refresh"], second["refresh"])


def test_rotated_token_reused_within_grace_gets_the_current_tokens(api, user):
    first = assert_status(login(api, user.email), 201)
    winner = refresh(api, first["refresh"]).json()
    racer = refresh(api, first["refresh"])
    assert racer.status_code == 200
    assert racer.json()["refresh"] == winner["refresh"]
    assert me(api, user, winner["token"]).status_code == 200


def test_rotated_token_reused_after_grace_revokes_the_session(api, user):
    first = assert_status(login(api, user.email), 201)
    current = refresh(api, first["refresh"]).json()
    Session.objects.filter(pk=claims(first["token"])["sid"]).update(
        rotated_at=timezone.now() - timedelta(seconds=11)
    )
    revoked = counted("restapi_sessions_revoked_total", reason="refresh_token_reuse")
    assert_error(refresh(api, first["refresh"]), 401, "invalid_token")
    assert counted("restapi_sessions_revoked_total", reason="refresh_token_reuse") == revoked + 1
    # The thief and the owner are both out: the session is gone.
    assert_error(refresh(api, current["refresh"]), 401, "invalid_token")
    assert_error(me(api, user, current["token"]), 401, "invalid_token")
    assert session_of(first["token"]).revoked_reason == "refresh_token_reuse"


def test_forged_or_malformed_refresh_tokens_are_401_and_revoke_nothing(api, user):
    body = assert_status(login(api, user.email), 201)
    session_hex, generation, mac = body["refresh"].split(".")
    for forged in (
        f"{session_hex}.{generation}.{'0' * 64}",
        f"{session_hex}.5.{mac}",
        f"{uuid.uuid4().hex}.{generation}.{mac}",
        "garbage",
        "a.b.c",
    ):
        assert_error(refresh(api, forged), 401, "invalid_token")
    assert session_of(body["token"]).revoked_at is None
    assert refresh(api, body["refresh"]).status_code == 200


def test_refresh_needs_a_refresh_field(api):
    assert_error(api.post("/login/refresh", {}, format="json"), 400, "validation_error")


def test_refresh_after_deactivation_is_401(api, user):
    body = assert_status(login(api, user.email), 201)
    user.state = 1
    user.save()
    assert_error(refresh(api, body["refresh"]), 401, "invalid_token")


def test_logout_revokes_only_the_current_session(api, user):
    one = assert_status(login(api, user.email), 201)
    two = assert_status(login(api, user.email), 201)
    revoked = counted("restapi_sessions_revoked_total", reason="logout")
    response = api.post("/logout", HTTP_AUTHORIZATION=f"Bearer {one['token']}")
    assert response.status_code == 204
    assert counted("restapi_sessions_revoked_total", reason="logout") == revoked + 1
    assert_error(me(api, user, one["token"]), 401, "invalid_token")
    assert_error(refresh(api, one["refresh"]), 401, "invalid_token")
    assert me(api, user, two["token"]).status_code == 200


def test_logout_all_revokes_every_session(api, user, other_user):
    one = assert_status(login(api, user.email), 201)
    two = assert_status(login(api, user.email), 201)
    bob = assert_status(login(api, other_user.email), 201)
    assert api.post("/logout/all", HTTP_AUTHORIZATION=f"Bearer {one['token']}").status_code == 204
    for body in (one, two):
        assert_error(me(api, user, body["token"]), 401, "invalid_token")
        assert_error(refresh(api, body["refresh"]), 401, "invalid_token")
    assert me(api, other_user, bob["token"]).status_code == 200


@pytest.mark.parametrize("path", ["/logout", "/logout/all"])
def test_logout_needs_a_token(api, path):
    assert_error(api.post(path), 401, "not_authenticated")


def test_own_password_change_revokes_other_sessions_and_returns_fresh_tokens(api, user):
    current = assert_status(login(api, user.email), 201)
    other = assert_status(login(api, user.email), 201)
    response = api.put(
        "/user",
        {"user_id": user.pk, "password": "a brand new passphrase", "current_password": PASSWORD},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {current['token']}",
    )
    assert response.status_code == 200
    fresh = response.json()
    assert claims(fresh["token"])["sid"] == claims(current["token"])["sid"]
    assert me(api, user, fresh["token"]).status_code == 200
    assert refresh(api, fresh["refresh"]).status_code == 200
    assert_error(me(api, user, other["token"]), 401, "invalid_token")
    assert_error(refresh(api, other["refresh"]), 401, "invalid_token")


def test_admin_password_change_and_deactivation_revoke_every_session(api, admin_client, user):
    body = assert_status(login(api, user.email), 201)
    response = admin_client.put(
        "/user", {"user_id": user.pk, "password": "set by the admin 123"}, format="json"
    )
    assert response.status_code == 200
    assert "token" not in response.json()
    assert_error(me(api, user, body["token"]), 401, "invalid_token")
    body = assert_status(login(api, user.email, "set by the admin 123"), 201)
    assert admin_client.delete("/user", {"user_id": user.pk}, format="json").status_code == 204
    assert_error(refresh(api, body["refresh"]), 401, "invalid_token")
    assert session_of(body["token"]).revoked_reason == "deactivated"


def test_sessions_list_shows_active_sessions_and_marks_the_current_one(api, user, other_user):
    first = assert_status(login(api, user.email), 201)
    second = login(api, user.email, HTTP_USER_AGENT="curl/8").json()
    assert_status(login(api, other_user.email), 201)
    revoked = assert_status(login(api, user.email), 201)
    api.post("/logout", HTTP_AUTHORIZATION=f"Bearer {revoked['token']}")
    response = api.get("/user/sessions", HTTP_AUTHORIZATION=f"Bearer {first['token']}")
    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert {s["session_id"] for s in sessions} == {
        claims(first["token"])["sid"],
        claims(second["token"])["sid"],
    }
    by_id = {s["session_id"]: s for s in sessions}
    assert by_id[claims(first["token"])["sid"]]["current"] is True
    assert by_id[claims(second["token"])["sid"]]["current"] is False
    assert by_id[claims(second["token"])["sid"]]["user_agent"] == "curl/8"
    assert {s["client_ip"] for s in sessions} == {"127.0.0.1"}


def test_revoke_one_session(api, user):
    keep = assert_status(login(api, user.email), 201)
    drop = assert_status(login(api, user.email), 201)
    sid = claims(drop["token"])["sid"]
    response = api.delete(f"/user/sessions/{sid}", HTTP_AUTHORIZATION=f"Bearer {keep['token']}")
    assert response.status_code == 204
    assert_error(me(api, user, drop["token"]), 401, "invalid_token")
    assert me(api, user, keep["token"]).status_code == 200


def test_another_users_session_is_404_and_stays_alive(user, other_user, admin):
    bobs = tokens_for(other_user)
    sid = claims(bobs.token)["sid"]
    for client in (client_for(user), client_for(admin)):
        assert_error(client.delete(f"/user/sessions/{sid}"), 404, "not_found")
    assert Session.objects.get(pk=sid).revoked_at is None
    assert_error(client_for(user).delete(f"/user/sessions/{uuid.uuid4()}"), 404, "not_found")
    assert_error(client_for(user).delete("/user/sessions/not-a-uuid"), 404, "not_found")


def test_sessions_routes_need_a_token(api, user):
    sid = claims(tokens_for(user).token)["sid"]
    assert_error(api.get("/user/sessions"), 401, "not_authenticated")
    assert_error(api.delete(f"/user/sessions/{sid}"), 401, "not_authenticated")
    assert Session.objects.get(pk=sid).revoked_at is None
