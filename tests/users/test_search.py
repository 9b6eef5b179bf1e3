import pytest
from django.db import connection

from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def search(client, **body):
    return client.post("/user/search", body, format="json")


def emails(response):
    assert response.status_code == 200, response.content
    return [user["email"] for user in response.json()["users"]]


@pytest.fixture
def people(make_user):
    return [
        make_user(email=email)
        for email in (
            "ann@example.com",
            "anna_b@example.com",
            "annabel@example.org",
            "100%ann@example.net",
            "zed@example.com",
        )
    ]


def test_admin_search_is_case_insensitive_substring_newest_first(admin_client, people):
    assert emails(search(admin_client, email="ANN")) == [
        "100%ann@example.net",
        "annabel@example.org",
        "anna_b@example.com",
        "ann@example.com",
    ]


@pytest.mark.parametrize(
    ("term", "expected"),
    [("a_b", ["anna_b@example.com"]), ("0%a", ["100%ann@example.net"]), ("n_b", [])],
)
def test_percent_and_underscore_are_literal(admin_client, people, term, expected):
    assert emails(search(admin_client, email=term)) == expected


def test_a_users_search_only_ever_matches_themselves(make_user, people):
    from tests.helpers import client_for

    ann = people[0]
    client = client_for(ann)
    assert emails(search(client, email="ann")) == ["ann@example.com"]
    assert emails(search(client, email="example")) == ["ann@example.com"]
    assert emails(search(client, email="zed")) == []


def test_filters_by_state_and_verified(admin_client, people):
    people[1].state = 1
    people[1].save()
    people[2].verified = 1
    people[2].save()
    assert emails(search(admin_client, email="ann", state=1)) == ["anna_b@example.com"]
    assert emails(search(admin_client, email="ann", verified=1)) == ["annabel@example.org"]


def test_cursor_pages_through_every_match_once(admin_client, make_user):
    created = [make_user(email=f"page{i:02}@example.com") for i in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        body = {"email": "page", "limit": 3} | ({"cursor": cursor} if cursor else {})
        response = search(admin_client, **body)
        seen += emails(response)
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [user.email for user in reversed(created)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": "ab"}, "email"),
        ({"email": "abc", "limit": 101}, "limit"),
        ({"email": "abc", "limit": 0}, "limit"),
        ({"email": "abc", "state": 7}, "state"),
        ({"email": "abc", "verified": 2}, "verified"),
        ({"email": "abc", "cursor": "not-a-cursor"}, "cursor"),
        ({"email": "abc", "cursor": "eyJpZCI6IC0xfQ"}, "cursor"),
    ],
)
def test_invalid_search_is_400(admin_client, body, field):
    error = assert_error(search(admin_client, **body), 400, "validation_error")
    assert field in error["errors"]


def test_no_token_is_401(api):
    assert_error(search(api, email="abc"), 401, "not_authenticated")


def test_search_uses_the_trigram_index(admin_client, people):
    with connection.cursor() as cursor:
        # On a handful of rows any plan is cheap; forbid the full scans to see what index
        # the filter can use at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN SELECT id FROM users WHERE email::text LIKE %s", ["%ann%"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "users_email_trgm" in plan
