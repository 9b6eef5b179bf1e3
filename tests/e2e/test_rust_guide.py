"""The Rust service's curl guide ("Integration Tests Using curl Guide"), its steps in its
order, run with curl against the real server over TLS.

Every body goes as the guide sends it: `curl -d`, so labelled
application/x-www-form-urlencoded, with a `-H` only where the guide has one (its `Bearer:`
token header, the delete step's `Content-type: application/json`, the upload's headers).
The requests are the guide's, except where this service deliberately differs from the
Rust one; each such step says what changed and why (README, "Compatibility with the Rust
service"): real ids instead of the guide's `1`, passwords the validators accept, the
current password for one's own email or password change, no `state` from a user, the
reset code and verification link from the emails, a login again after a password reset
(which ends every session), and the deactivation last (the guide's later steps still use
its token; deactivating ends every session at once).
"""

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.server import Server
from tests.logscan import scan

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "user@email.com"
# The guide's "12345", "321123" and "12345a": the validators want 8 characters or more.
PASSWORD, SECOND, THIRD = "guide password 12345", "guide password 321123", "guide password 12345a"
CREDENTIALS = f'{{"email":"{EMAIL}","password":"{PASSWORD}"}}'


@dataclass
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def mailed(server: Server, to: str, pattern: str, timeout: float = 10) -> str:
    """The first group of `pattern` in a message the server's file backend wrote to `to`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(server.mail_dir.glob("*.log")):
            text = path.read_text()
            if f"To: {to}\n" in text and (match := re.search(pattern, text)):
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no email to {to} matching {pattern}")


def curl(server: Server, args: list[str], tmp_path: Path) -> Answer:
    """One guide command: `curl -s ${TLS_ARGS} URL ...`, with the status on a last line."""
    result = subprocess.run(
        ["curl", "-s", "--noproxy", "*", "--cacert", str(server.ca), *args, "-w", "\n%{http_code}"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=True,
    )
    text, _, status = result.stdout.rpartition("\n")
    return Answer(int(status), text)


def test_the_rust_services_curl_guide_passes(server, tmp_path):
    url = server.url
    steps: list[list[str]] = []

    def step(title: str, expected: int, *args: str) -> Answer:
        # What the log scan must find in no log: the bodies' passwords and codes, the
        # Bearer header's token, and every token answered.
        for arg in args:
            if arg.startswith("Bearer: "):
                scan.add(arg.removeprefix("Bearer: "))
            elif arg.startswith("{"):
                scan.add_json(arg)
        answer = curl(server, list(args), tmp_path)
        scan.add_json(answer.text)
        steps.append(list(args))
        assert answer.status == expected, (title, answer.status, answer.text)
        return answer

    # Login (user does not exist yet): the one 401 of every failed login (Rust: 400).
    step("login, no user yet", 401, f"{url}/login", "-XPOST", "-d", CREDENTIALS)
    # Create user
    created = step("create user", 201, f"{url}/user", "-XPOST", "-d", CREDENTIALS)
    assert created.json()["token"]
    # Login and save the token as an env variable
    login = step("login", 201, f"{url}/login", "-XPOST", "-d", CREDENTIALS).json()
    token, user_id = login["token"], login["user_id"]
    bearer = f"Bearer: {token}"
    # Get user
    got = step("get user", 200, f"{url}/user/{user_id}", "-XGET", "-H", bearer)
    assert got.json()["email"] == EMAIL
    # Update user. A user may not send `state` (403); their own email or password change
    # takes the current password. A new email waits for its link as pending_email.
    update = (
        f'{{"user_id":{user_id},"email":"somenewemail@gmail.com","password":"{SECOND}",'
        f'"current_password":"{PASSWORD}"}}'
    )
    updated = step("update user", 200, f"{url}/user", "-H", bearer, "-XPUT", "-d", update)
    assert updated.json()["pending_email"] == "somenewemail@gmail.com"
    # Change user password: to a new one, and back to the original.
    for new, current in ((THIRD, SECOND), (PASSWORD, THIRD)):
        body = f'{{"user_id":{user_id},"password":"{new}","current_password":"{current}"}}'
        step("change password", 200, f"{url}/user", "-H", bearer, "-XPUT", "-d", body)
    # Create a one-time-use password (otp): always 202; the code goes by email, never in
    # the answer (Rust: 201 with the token in the body).
    reset = f'{{"user_id":{user_id},"email":"{EMAIL}"}}'
    step("create otp", 202, f"{url}/user/password/reset", "-H", bearer, "-XPOST", "-d", reset)
    # Consume the otp: the guide's body has neither the code nor the new password.
    code = mailed(server, EMAIL, r"reset code:\s+(\S+)")
    change = f'{{"user_id":{user_id},"email":"{EMAIL}","token":"{code}","password":"{PASSWORD}"}}'
    consume = f"{url}/user/password/change"
    changed = step("consume otp", 200, consume, "-H", bearer, "-XPOST", "-d", change)
    assert changed.json()["user_id"] == user_id
    # Not in the guide: the reset ended every session, so log in again.
    again = step("login again", 201, f"{url}/login", "-XPOST", "-d", CREDENTIALS)
    bearer = f"Bearer: {again.json()['token']}"
    # Change user email (with the current password, as above).
    email = f'{{"user_id":{user_id},"email":"unique@gmail.com","current_password":"{PASSWORD}"}}'
    moved = step("change email", 200, f"{url}/user", "-H", bearer, "-XPUT", "-d", email)
    assert moved.json()["pending_email"] == "unique@gmail.com"
    # Verify user email: the link mailed at registration (the guide's `t=2` is a stand-in).
    link = mailed(server, EMAIL, rf"({re.escape(url)}/user/verify\?\S+)")
    verified = step("verify email", 200, link)
    assert verified.json()["verified"] == 1
    # Search user (token must be for the POST-ed user id)
    search = f'{{"email":"user","user_id":{user_id}}}'
    found = step("search users", 200, f"{url}/user/search", "-XPOST", "-H", bearer, "-d", search)
    assert [u["user_id"] for u in found.json()["users"]] == [user_id]
    # S3 Upload a user data file: the guide's headers, `user_id` and `data_type` with
    # underscores. The answer is the record's fields at the top level.
    Path(tmp_path, "README.md").write_text("# a file from the guide\n")
    uploaded = step(
        "upload",
        201,
        "-XPOST",
        "--data-binary",
        "@./README.md",
        f"{url}/user/data",
        "-H",
        bearer,
        "-H",
        f"user_id: {user_id}",
        "-H",
        "comments: this is a test comment",
        "-H",
        "encoding: na",
        "-H",
        "Content-type: text/txt",
        "-H",
        "filename: README.md",
        "-H",
        "data_type: file",
    ).json()
    assert (uploaded["user_id"], uploaded["filename"], uploaded["data_type"]) == (
        user_id,
        "README.md",
        "file",
    )
    assert (uploaded["comments"], uploaded["encoding"], uploaded["msg"]) == (
        "this is a test comment",
        "na",
        "success",
    )
    data_id = uploaded["data_id"]
    # Search user data (token must be for the POST-ed user id)
    body = f'{{"user_id":{user_id}}}'
    searched = step(
        "search data", 200, f"{url}/user/data/search", "-XPOST", "-H", bearer, "-d", body
    )
    assert [d["data_id"] for d in searched.json()["data"]] == [data_id]
    # Update a single user data record (token must be for the PUT user id)
    body = f'{{"user_id":{user_id},"data_id":{data_id},"comments":"updated comment using curl"}}'
    put = step("update data", 200, f"{url}/user/data", "-XPUT", "-H", bearer, "-d", body)
    assert put.json()["data"]["comments"] == "updated comment using curl"
    # Login and save the token as an env variable
    step("login at the end", 201, f"{url}/login", "-XPOST", "-d", CREDENTIALS)
    # Delete user (the guide's step before its S3 steps, see above).
    body = f'{{"email":"{EMAIL}","user_id":{user_id}}}'
    step(
        "delete user",
        204,
        f"{url}/user",
        "-XDELETE",
        "-d",
        body,
        "-H",
        "Content-type: application/json",
        "-H",
        bearer,
    )
    step("login after delete", 401, f"{url}/login", "-XPOST", "-d", CREDENTIALS)
    form = [args for args in steps if "-d" in args and "Content-type: application/json" not in args]
    print(f"\nthe Rust guide: {len(steps)} curl steps, {len(form)} with a form-labelled JSON body")
    assert len(form) >= 15
