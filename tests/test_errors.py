import pytest

from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_unknown_route_is_json_404(api):
    assert_error(api.get("/does/not/exist"), 404, "not_found")
    assert_error(api.post("/user/"), 404, "not_found")


def test_wrong_method_is_json_405(user_client):
    assert_error(user_client.patch("/user", {}, format="json"), 405, "method_not_allowed")
    assert_error(user_client.get("/user/search"), 405, "method_not_allowed")


def test_malformed_json_is_400(api):
    response = api.post("/user", "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_other_content_types_are_415(api):
    response = api.post(
        "/user", "email=a@example.com", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_body_over_one_mebibyte_is_413_before_reading(api):
    body = '{"email": "' + "a" * (1024 * 1024) + '"}'
    assert_error(api.post("/user", body, content_type="application/json"), 413, "payload_too_large")


def test_uncaught_errors_are_json_500_without_details(user_client, user, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret detail: SELECT password FROM users")

    monkeypatch.setattr("users.views.selectors.user_get_for_actor", broken)
    response = user_client.get(f"/user/{user.pk}")
    assert_error(response, 500, "internal_error")
    assert b"secret" not in response.content
    assert b"SELECT" not in response.content
