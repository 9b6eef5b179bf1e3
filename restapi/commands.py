"""The base of the service's manage.py commands, so that each one fails the same way.

A known failure is one line on stderr and an exit code, never a traceback (``--traceback``
still shows one): a database that does not answer, input the service's validation refuses,
a missing or unreadable file, a setting that does not work. Anything else is a bug and
keeps its traceback. ``--help`` names the default of every option that has one, and a
long run reports its progress (``ServiceCommand.progress``).
"""

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
    OutputWrapper,
)
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from rest_framework.exceptions import ValidationError

from restapi.exceptions import ApiError

# Exit codes (argparse itself exits 2 for arguments it cannot parse).
EXIT_FAILED = 1  # refused, or could not be done: the message says why
EXIT_BAD_INPUT = 2  # an argument or value is not acceptable
EXIT_UNAVAILABLE = 3  # the database or storage did not answer: retry later
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

# Without a terminal, a progress line this often (a cron job's or a pod's log).
PROGRESS_INTERVAL_SECONDS = 10.0
# On a terminal, the line is redrawn at most this often.
REDRAW_INTERVAL_SECONDS = 0.2


class HelpFormatter(DjangoHelpFormatter):
    """Django's formatter, with "(default: X)" after each option that has a default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "%(default)" in text
            or default in (None, False, "", [], argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)"


def _whole_number(text: str, minimum: int) -> int:
    try:
        number = int(text)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}: {text!r}")
    return number


def positive_int(text: str) -> int:
    """An argparse type: 1 or more."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: 0 or more."""
    return _whole_number(text, 0)


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (psycopg's, for one, spans several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def validation_message(detail: Any) -> str:
    """DRF's field errors as `field: message; field: message`."""
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {validation_message(value)}" for field, value in detail.items())
    if isinstance(detail, list):
        return " ".join(validation_message(item) for item in detail)
    return str(detail)


def database_problem() -> str | None:
    """Why a new connection to the database fails, or None if it opens.

    One plain connection, outside the pool: the pool would retry for
    POSTGRES_POOL_TIMEOUT_SECONDS and then say only that it got no connection.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        return None
    try:
        psycopg.connect(**connection.get_connection_params()).close()
    except psycopg.Error as exc:
        return one_line(exc)
    return None


class ServiceCommand(BaseCommand):
    """Base of every command of the service; subclasses write `add_arguments` and `handle`
    as usual, and give each option a `help` (the formatter adds its default)."""

    # Whether the database is asked first, so that an outage is one line at once. False for
    # commands that never touch it, and for a daemon that waits for it to come back.
    checks_database = True

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            if self.checks_database and (problem := database_problem()):
                raise CommandError(
                    f"The database is unavailable: {problem}", returncode=EXIT_UNAVAILABLE
                )
            return super().execute(*args, **options)
        except CommandError:
            raise
        except (OperationalError, InterfaceError) as exc:
            # Lost during the run: ask a fresh connection what is wrong.
            problem = database_problem() or one_line(exc)
            raise CommandError(
                f"The database is unavailable: {problem}", returncode=EXIT_UNAVAILABLE
            ) from exc
        except ValidationError as exc:
            raise CommandError(validation_message(exc.detail), returncode=EXIT_BAD_INPUT) from exc
        except ApiError as exc:
            # The services' refusals (too large, over quota, storage down), as the API says them.
            code = EXIT_UNAVAILABLE if exc.status_code == 503 else EXIT_FAILED
            raise CommandError(str(exc.detail), returncode=code) from exc
        except ImproperlyConfigured as exc:
            raise CommandError(one_line(exc), returncode=EXIT_FAILED) from exc
        except OSError as exc:
            # A file given or configured: "[Errno 2] No such file or directory: 'x'".
            raise CommandError(one_line(exc), returncode=EXIT_FAILED) from exc
        except KeyboardInterrupt:
            # Ctrl-C while waiting on storage or the database: the operator knows why.
            raise CommandError("Interrupted", returncode=EXIT_INTERRUPTED) from None

    @contextmanager
    def progress(self, what: str, total: int | None = None) -> Iterator["Progress"]:
        """Counts work done, on stderr: one line redrawn in place on a terminal, otherwise a
        line every PROGRESS_INTERVAL_SECONDS. Yields the counter; `.add(n)` after each step."""
        counter = Progress(self.stderr, what, total)
        try:
            yield counter
        finally:
            counter.finish()


class Progress:
    def __init__(self, out: OutputWrapper, what: str, total: int | None) -> None:
        self.out = out
        self.what = what
        self.total = total
        self.done = 0
        self.terminal = out.isatty()
        self.started = self.shown = time.monotonic()

    def add(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        interval = REDRAW_INTERVAL_SECONDS if self.terminal else PROGRESS_INTERVAL_SECONDS
        if now - self.shown >= interval:
            self.shown = now
            self._show()

    def _line(self) -> str:
        of = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.what}: {self.done:,}{of} ({time.monotonic() - self.started:.0f} s)"

    def _show(self) -> None:
        if self.terminal:
            self.out.write(f"\r\x1b[K{self._line()}", ending="")
            self.out.flush()
        else:
            self.out.write(self._line())

    def finish(self) -> None:
        if self.terminal and self.done:
            # The last count stays on the screen, and the next output starts on a new line.
            self.out.write(f"\r\x1b[K{self._line()}")
