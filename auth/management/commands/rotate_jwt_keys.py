import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from auth.keys import (
    NEXT_DIR,
    PREVIOUS_DIR,
    PRIVATE_NAME,
    PUBLIC_NAME,
    key_id,
    load_private_key,
    load_public_key,
    write_atomically,
    write_key_pair,
)
from restapi.commands import ServiceCommand

# Clock skew allowance when deciding that no token signed by a retired key is still valid.
RETIRE_MARGIN_SECONDS = 60

KeyT = TypeVar("KeyT")


def checked_pair(private_path: Path, public_path: Path) -> str:
    """The kid of a key pair that loads and matches; a one-line CommandError otherwise."""
    private_key = _loaded(load_private_key, private_path)
    public_key = _loaded(load_public_key, public_path)
    if private_key.public_key().public_numbers() != public_key.public_numbers():
        raise CommandError(f"{public_path} is not the public half of {private_path}")
    return key_id(public_key)


def _loaded(load: Callable[[Path], KeyT], path: Path) -> KeyT:
    try:
        return load(path)
    except ValueError as exc:  # cryptography's "Unable to load PEM file. See ..."
        raise CommandError(f"{path} is not a PEM key") from exc


class Command(ServiceCommand):
    help = (
        "Rotate the ES256 signing key. The new pair becomes the signer; the old public key "
        "moves to SERVER_PKI_DIR_JWT/previous/ and keeps verifying until tokens signed by "
        "it have expired. Running workers pick the change up within a second. Nothing is "
        "written unless the current pair (and a staged one) loads and matches."
    )
    checks_database = False

    def add_arguments(self, parser: CommandParser) -> None:
        step = parser.add_mutually_exclusive_group()
        step.add_argument(
            "--stage",
            action="store_true",
            help="only make the next pair (in next/) and publish its public key; the next "
            "rotation promotes it (lets every replica trust the key before anyone signs)",
        )
        step.add_argument(
            "--retire",
            action="store_true",
            help="delete previous public keys that no unexpired token can still need",
        )
        parser.add_argument("--dev", action="store_true", help="mark new keys as development keys")

    def handle(self, *args: Any, stage: bool, retire: bool, dev: bool, **options: Any) -> None:
        directory: Path = settings.SERVER_PKI_DIR_JWT
        if retire:
            self._retire(directory / PREVIOUS_DIR)
            return
        private_path = settings.TOKEN_ALGO_PRIVATE_KEY
        public_path = settings.TOKEN_ALGO_PUBLIC_KEY
        old_kid = checked_pair(private_path, public_path)
        staged = directory / NEXT_DIR
        staged_kid = None
        if (staged / PRIVATE_NAME).exists():
            staged_kid = checked_pair(staged / PRIVATE_NAME, staged / PUBLIC_NAME)
        if stage:
            if staged_kid is not None:
                # Replicas may trust it already; a new one would be promoted untrusted.
                raise CommandError(
                    f"Key {staged_kid} is staged already: rotate to promote it, or delete "
                    f"{staged} to stage another"
                )
            kid = write_key_pair(staged / PRIVATE_NAME, staged / PUBLIC_NAME, dev=dev)
            self.stdout.write(
                f"Staged key {kid} in {staged}; it verifies now and signs after the next rotation"
            )
            return
        # The old key first joins the verifiers, so no process ever lacks it.
        previous = directory / PREVIOUS_DIR / f"{old_kid}.pem"
        write_atomically(previous, public_path.read_bytes(), mode=0o644)
        if staged_kid is not None:
            write_atomically(public_path, (staged / PUBLIC_NAME).read_bytes(), mode=0o644)
            write_atomically(private_path, (staged / PRIVATE_NAME).read_bytes(), mode=0o600)
            shutil.rmtree(staged)
            new_kid = staged_kid
        else:
            new_kid = write_key_pair(private_path, public_path, dev=dev)
        self.stdout.write(f"Signing with {new_kid}; {old_kid} verifies until its tokens expire")

    def _retire(self, previous_dir: Path) -> None:
        # A previous key's file was written when it stopped signing.
        keep_for = settings.TOKEN_EXPIRATION_SECONDS_INTO_FUTURE + RETIRE_MARGIN_SECONDS
        retired = kept = 0
        for path in sorted(previous_dir.glob("*.pem")):
            if path.stat().st_mtime + keep_for < time.time():
                path.unlink()
                retired += 1
                self.stdout.write(f"Retired {path.stem}")
            else:
                kept += 1
        self.stdout.write(f"{retired} keys retired, {kept} still verifying")
