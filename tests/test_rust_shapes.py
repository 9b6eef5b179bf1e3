"""Every route the Rust service had answers a body its clients can read: each field of the
Rust service's response type (its `ApiRes…` structs, copied here) is there, with a value of
the same JSON type, where it was (top level, under `data`, in each item). Extra fields are
fine: the Rust types, as most JSON clients, ignore what they do not know. The fields this
service leaves out on purpose are listed in DELIBERATE, and the README's compatibility
table says why."""

import re
from typing import Any

import pytest
from django.core import mail

from tests.helpers import PASSWORD, client_for
from userdata.models import UserFile
from users.models import User

pytestmark = pytest.mark.django_db

# The Rust fields' JSON types: its i32/i64 are numbers, its String fields strings.
USER = {"user_id": int, "email": str, "state": int, "verified": int, "role": str, "msg": str}
LOGIN = USER | {"token": str}
UPLOAD = {
    "user_id": int,
    "data_id": int,
    "filename": str,
    "data_type": str,
    "size_in_bytes": int,
    "comments": str,
    "encoding": str,
    "sloc": str,
    "msg": str,
}
DATA_RECORD = UPLOAD | {"created_at": str, "updated_at": str}

# Fields of a Rust answer this service does not send, and why (see the README).
DELIBERATE = {
    # The reset code goes by email only: an answer holding it let anyone who knew an
    # address take over its account.
    "POST /user/password/reset": {"user_id", "token", "exp_date"},
    # The one-time token's row id means nothing to a client.
    "POST /user/password/change": {"otp_id"},
}


def has_fields(body: dict[str, Any], fields: dict[str, type], where: str) -> None:
    for name, kind in fields.items():
        assert name in body, f"{where}: no {name}"
        assert type(body[name]) is kind, f"{where}: {name} is {body[name]!r}, not {kind.__name__}"


def test_user_routes_answer_the_rust_fields(api, admin):
    credentials = {"email": "shape@example.com", "password": PASSWORD}
    created = api.post("/user", credentials, format="json")
    assert created.status_code == 201
    has_fields(created.json(), LOGIN, "POST /user")
    login = api.post("/login", credentials, format="json")
    assert login.status_code == 201
    has_fields(login.json(), LOGIN, "POST /login")
    user_id = login.json()["user_id"]
    client = api.__class__()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['token']}")
    got = client.get(f"/user/{user_id}")
    has_fields(got.json(), USER, "GET /user/{id}")
    updated = client_for(admin).put("/user", {"user_id": user_id, "state": 0}, format="json")
    assert updated.status_code == 200
    has_fields(updated.json(), USER, "PUT /user")
    found = client.post("/user/search", {"email": "shape", "user_id": user_id}, format="json")
    assert found.status_code == 200
    has_fields(found.json(), {"users": list, "msg": str}, "POST /user/search")
    for item in found.json()["users"]:
        has_fields(item, USER, "POST /user/search, users[]")
    deleted = client.delete("/user", {"user_id": user_id, "email": "x"}, format="json")
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_verify_answers_the_rust_fields(api, deliver):
    with deliver():
        api.post("/user", {"email": "verify@example.com", "password": PASSWORD}, format="json")
    link = re.search(r"/user/verify\?\S+", mail.outbox[0].body).group(0)
    verified = api.get(link)
    assert verified.status_code == 200
    has_fields(verified.json(), USER, "GET /user/verify")


# The reset's lookup runs in the background thread, on its own connection.
@pytest.mark.django_db(transaction=True)
def test_password_reset_answers_the_rust_fields_but_the_code(api, user, deliver):
    with deliver():
        reset = api.post(
            "/user/password/reset", {"user_id": user.pk, "email": user.email}, format="json"
        )
    assert reset.status_code == 202
    assert set(reset.json()) == {"msg"}
    assert DELIBERATE["POST /user/password/reset"].isdisjoint(reset.json())
    code = mail.outbox[0].body.split("code:\n\n", 1)[1].split("\n", 1)[0]
    body = {"user_id": user.pk, "email": user.email, "token": code, "password": "a new one 42!"}
    changed = api.post("/user/password/change", body, format="json")
    assert changed.status_code == 200
    has_fields(changed.json(), {"user_id": int, "msg": str}, "POST /user/password/change")


def test_data_routes_answer_the_rust_fields(user):
    client = client_for(user)
    upload = client.generic(
        "POST",
        "/user/data",
        b"a,b\n",
        content_type="text/csv",
        HTTP_FILENAME="f.csv",
        HTTP_USER_ID=str(user.pk),
    )
    assert upload.status_code == 201
    # At the top level, as the Rust service answered (not under `data`).
    has_fields(upload.json(), UPLOAD, "POST /user/data")
    assert "data" not in upload.json()
    data_id = upload.json()["data_id"]
    put = client.put(
        "/user/data", {"user_id": user.pk, "data_id": data_id, "comments": "c"}, format="json"
    )
    assert put.status_code == 200
    has_fields(put.json(), {"data": dict, "msg": str}, "PUT /user/data")
    has_fields(put.json()["data"], DATA_RECORD, "PUT /user/data, data")
    searched = client.post("/user/data/search", {"user_id": user.pk}, format="json")
    assert searched.status_code == 200
    has_fields(searched.json(), {"data": list, "msg": str}, "POST /user/data/search")
    assert [item["data_id"] for item in searched.json()["data"]] == [data_id]
    for item in searched.json()["data"]:
        has_fields(item, DATA_RECORD, "POST /user/data/search, data[]")


def test_a_search_answers_the_newest_100_as_the_rust_service_did(admin):
    """The Rust service answered up to 100 matches and no more; the first page is the same."""
    User.objects.bulk_create(
        User(email=f"user{number}@example.com", password="!") for number in range(101)
    )
    UserFile.objects.bulk_create(
        UserFile(user=admin, filename="f", size_in_bytes=1, key=f"k{number}", sloc="s", sha256="0")
        for number in range(101)
    )
    client = client_for(admin)
    users = client.post("/user/search", {"email": "user"}, format="json").json()
    files = client.post("/user/data/search", {}, format="json").json()
    for page, items in ((users, users["users"]), (files, files["data"])):
        assert len(items) == 100 and page["next_cursor"]
