import time
from typing import Any

import psycopg
from django.core.management.base import CommandError, CommandParser

from restapi.commands import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_UNAVAILABLE,
    ServiceCommand,
    one_line,
    positive_int,
)
from userdata import seed_import, storage


class Command(ServiceCommand):
    help = (
        "Bring the users and files of the Rust service's database (--dsn) into this one, "
        "keeping their ids, password hashes and stored objects. Each batch is one "
        "transaction; a row imported before is skipped, and a row that cannot be imported "
        "as it is is reported as a conflict (fix it at the source and run again). "
        "--hash-files reads each imported file's object to compute its SHA-256."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dsn",
            metavar="URL",
            help="the Rust service's database, postgresql://USER@HOST:PORT/DB (libpq's "
            "PGPASSWORD or ~/.pgpass keep a password off the command line)",
        )
        parser.add_argument(
            "--hash-files",
            action="store_true",
            help="compute the SHA-256 (and check the size) of every imported file that has "
            "none yet, by streaming its object; after the import when given with --dsn",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=1000,
            metavar="ROWS",
            help="source rows per transaction",
        )

    def handle(
        self, *args: Any, dsn: str | None, hash_files: bool, batch_size: int, **options: Any
    ) -> None:
        if not dsn and not hash_files:
            raise CommandError(
                "Give --dsn (the Rust service's database), --hash-files, or both",
                returncode=EXIT_BAD_INPUT,
            )
        if dsn:
            self._import(dsn, batch_size)
        if hash_files:
            self._hash_files()

    def _import(self, dsn: str, batch_size: int) -> None:
        started = time.monotonic()
        try:
            source = seed_import.Source(dsn)
        except psycopg.ProgrammingError as exc:
            raise CommandError(f"--dsn: {one_line(exc)}", returncode=EXIT_BAD_INPUT) from exc
        except psycopg.OperationalError as exc:
            raise CommandError(
                f"The Rust service's database is unavailable: {one_line(exc)}",
                returncode=EXIT_UNAVAILABLE,
            ) from exc
        except seed_import.NotASeedDatabase as exc:
            raise CommandError(f"--dsn: {exc}", returncode=EXIT_FAILED) from exc
        try:
            summary = seed_import.run(
                source, batch_size=batch_size, report=self._conflict, progress=self.progress
            )
        except psycopg.OperationalError as exc:
            raise CommandError(
                f"Lost the Rust service's database: {one_line(exc)}; the batches committed "
                "so far stay, run the command again for the rest",
                returncode=EXIT_UNAVAILABLE,
            ) from exc
        finally:
            source.close()
        self._summarise(summary, time.monotonic() - started)

    def _conflict(self, what: str, source_id: int, reason: str) -> None:
        self.stdout.write(f"conflict: {what} {source_id}: {reason}")

    def _summarise(self, summary: seed_import.Summary, seconds: float) -> None:
        write = self.stdout.write
        for name, tally, total in (
            ("Users", summary.users, summary.source_users),
            ("Files", summary.files, summary.source_files),
        ):
            write(
                f"{name}: {tally.imported:,} imported, {tally.skipped:,} skipped (imported "
                f"before), {tally.conflicts:,} conflicts, of {total:,} in the source"
            )
        moved = [
            f"{table} ids continue after {after:,}"
            for table, (before, after) in summary.sequences.items()
            if before != after and after is not None
        ]
        if moved:
            write(f"Sequences: {'; '.join(moved)}")
        if summary.admins:
            shown = ", ".join(map(str, summary.admins[:20]))
            more = ", ..." if len(summary.admins) > 20 else ""
            write(
                f"Admins imported: {len(summary.admins)} (ids {shown}{more}). The Rust "
                "service made whoever registered admin@email.com an admin: check them."
            )
        behind = ", ".join(f"{count:,} rows of {t}" for t, count in summary.left_behind.items())
        if behind:
            write(
                f"Not imported: {behind} (their tokens were stored in clear; unverified "
                "users ask for a new link, everyone logs in again)"
            )
        if not (summary.users.imported or summary.files.imported or moved):
            write("Nothing changed: every row was imported before or is a conflict.")
        rate = summary.users.imported / seconds if seconds else 0
        write(f"Took {seconds:.1f} s ({rate:,.0f} users imported/s)")

    def _hash_files(self) -> None:
        def report(data_id: int, reason: str) -> None:
            self.stdout.write(f"file {data_id}: {reason}")

        try:
            tally = seed_import.hash_files(report=report, progress=self.progress)
        except storage.StorageError as exc:
            raise CommandError(
                f"Storage failed: {one_line(exc)}; the files hashed so far keep their digest, "
                "run the command again for the rest",
                returncode=EXIT_UNAVAILABLE,
            ) from exc
        self.stdout.write(
            f"Hashed {tally.hashed:,} files ({tally.resized:,} with their size corrected); "
            f"{tally.missing:,} have no object in storage"
        )
