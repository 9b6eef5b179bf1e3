"""Every manage.py command of the service (restapi.commands.ServiceCommand): --help names
each default, and a failure is one line and an exit code, through a real process."""

import argparse
import os
import pty
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class

from restapi.commands import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, ServiceCommand
from tests.fixtures.storage import S3_BUCKET, S3_CREDENTIALS
from tests.helpers import BASE_DIR, free_port
from tests.userdata.hung_storage import SilentEndpoint

APPS = {"auth", "mfa", "audit", "users", "userdata", "kafka_events"}
COMMANDS = sorted(name for name, app in get_commands().items() if app in APPS)


def parsers(name):
    """The command's parser and those of its subcommands."""
    parser = load_command_class(get_commands()[name], name).create_parser("manage.py", name)
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += action.choices.values()
    return found


def test_the_service_has_the_commands_it_documents():
    assert COMMANDS == [
        "create_admin",
        "generate_jwt_keys",
        "import_seed",
        "kafka_publish",
        "kafka_relay",
        "mfa_reset",
        "mfa_rotate_keys",
        "purge_expired",
        "reconcile_storage",
        "rotate_jwt_keys",
        "user_files",
    ]


@pytest.mark.parametrize("name", COMMANDS)
def test_help_explains_every_option_and_names_its_default(name):
    assert isinstance(load_command_class(get_commands()[name], name), ServiceCommand)
    for parser in parsers(name):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, (name, action.option_strings)
            if action.default not in (None, False, "", [], argparse.SUPPRESS):
                assert f"(default: {action.default})" in text, (name, action.option_strings)


def environment(**env):
    """The test process's, on the test database and the session's JWT keys."""
    return {
        **os.environ,
        "DB_NAME": settings.DATABASES["default"]["NAME"],
        "SERVER_PKI_DIR_JWT": str(settings.SERVER_PKI_DIR_JWT),
        "TOKEN_ALGO_PRIVATE_KEY": str(settings.TOKEN_ALGO_PRIVATE_KEY),
        "TOKEN_ALGO_PUBLIC_KEY": str(settings.TOKEN_ALGO_PUBLIC_KEY),
        "ADMIN_PASSWORD": "",
        **env,
    }


def manage(*args, timeout=30, **env):
    """manage.py in its own process; returns (code, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environment(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result.returncode, result.stdout, result.stderr


# Each command that uses the database, with arguments it would otherwise accept. Not
# kafka_relay: a daemon, it retries until the database is back.
WITH_THE_DATABASE = [
    ["create_admin", "ops@example.com"],
    ["purge_expired"],
    ["reconcile_storage"],
    ["import_seed", "--hash-files"],
    ["kafka_publish", "--topic", "user.events", "--value", "1"],
    ["user_files", "download", "--data-id", "1", "/nonexistent/out"],
]


@pytest.mark.parametrize("args", WITH_THE_DATABASE, ids=lambda args: args[0])
def test_with_the_database_down_a_command_says_why_at_once(args):
    started = time.monotonic()
    code, out, err = manage(*args, POSTGRES_ENDPOINT=f"127.0.0.1:{free_port()}")
    # Not the pool's 10 s of retries, its WARNING lines and "couldn't get a connection".
    assert time.monotonic() - started < 8
    assert code == EXIT_UNAVAILABLE, err
    assert out == ""
    assert err.splitlines() == [err.strip()]
    assert err.startswith("CommandError: The database is unavailable: connection failed: ")
    assert "Connection refused" in err


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create_admin", "not-an-email"], "CommandError: email: Enter a valid email address."),
        (
            ["create_admin", "ops@example.com"],
            "CommandError: No password: set ADMIN_PASSWORD, or run the command in a terminal "
            "to be asked",
        ),
        (["kafka_publish", "--topic", "user.events", "--value", "null"], "CommandError: value:"),
        (["rotate_jwt_keys", "--stage", "--retire"], "not allowed with argument --stage"),
        (["purge_expired", "--session-retention-days", "-1"], "must be a whole number of at"),
        (["user_files", "upload", "--user-id", "x", "f"], "--user-id: must be a whole number"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else "",
)
def test_bad_input_is_one_line_and_exit_2_never_a_traceback(args, message):
    code, out, err = manage(*args)
    assert code == EXIT_BAD_INPUT, err
    assert "Traceback" not in err and out == ""
    last = err.splitlines()[-1]
    assert message in last
    # argparse's own refusals print the usage first; the command's are the one line.
    if last.startswith("CommandError"):
        assert err.splitlines() == [last]


@pytest.mark.django_db
def test_progress_on_a_terminal_is_one_line_redrawn(user_data_dir):
    """Without a terminal a short run prints only its summary; on one, its counts too."""
    for number in range(3):
        orphan = user_data_dir / settings.S3_DATA_PREFIX / "1" / f"orphan-{number}"
        orphan.parent.mkdir(parents=True, exist_ok=True)
        orphan.write_bytes(b"x")
    env = {"USER_DATA_DIR": str(user_data_dir), "S3_DATA_UPLOAD_TO_S3": "0"}
    code, out, err = manage("reconcile_storage", "--grace-minutes", "0", **env)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1].startswith("Found 3 objects without a row")
    terminal, other_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "reconcile_storage", "--grace-minutes", "0"],
        cwd=BASE_DIR,
        env=environment(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=other_end,
    )
    os.close(other_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    assert process.wait(timeout=30) == 0
    process.stdout.close()
    assert b"\r\x1b[KListing stored objects: 3 (" in shown
    assert b"\r\x1b[KObjects without a row: 3 of 3 (" in shown
    assert b"Traceback" not in shown


@pytest.fixture
def hung_s3():
    """An S3 endpoint that accepts connections and never answers."""
    endpoint = SilentEndpoint()
    yield endpoint
    endpoint.close()


def s3_env(endpoint, read_timeout):
    return {
        **S3_CREDENTIALS,
        "S3_DATA_UPLOAD_TO_S3": "1",
        "S3_DATA_BUCKET": S3_BUCKET,
        "S3_ENDPOINT_URL": endpoint.url,
        "S3_READ_TIMEOUT_SECONDS": str(read_timeout),
    }


@pytest.mark.django_db
def test_storage_that_stops_answering_is_one_line_after_its_timeout(hung_s3):
    code, out, err = manage("reconcile_storage", **s3_env(hung_s3, read_timeout=1))
    assert code == EXIT_UNAVAILABLE and out == "" and "Traceback" not in err
    # Before it, only botocore's INFO line about where it found credentials.
    assert err.splitlines()[-1].startswith(
        f"CommandError: Storage failed (s3://{S3_BUCKET}/{settings.S3_DATA_PREFIX}): Read timeout"
    )


@pytest.mark.django_db
def test_ctrl_c_is_one_line_and_exit_130(hung_s3):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "reconcile_storage"],
        cwd=BASE_DIR,
        env=environment(**s3_env(hung_s3, read_timeout=30)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not hung_s3.accepted:  # until it waits on storage, in its first listing call
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == EXIT_INTERRUPTED
    assert err.splitlines()[-1] == "CommandError: Interrupted" and "Traceback" not in err
