import shutil
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from auth.keys import (
    NEXT_DIR,
    PREVIOUS_DIR,
    PRIVATE_NAME,
    PUBLIC_NAME,
    key_id,
    load_public_key,
    write_atomically,
    write_key_pair,
)

# Clock skew allowance when deciding that no token signed by a retired key is still valid.
RETIRE_MARGIN_SECONDS = 60


class Command(BaseCommand):
    help = (
        "Rotate the ES256 signing key. The new pair becomes the signer; the old public key "
        "moves to SERVER_PKI_DIR_JWT/previous/ and keeps verifying until tokens signed by "
        "it have expired. Running workers pick the change up within a second."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stage",
            action="store_true",
            help="only make the next pair (in next/) and publish its public key; the next "
            "rotation promotes it (lets every replica trust the key before anyone signs)",
        )
        parser.add_argument(
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
        staged = directory / NEXT_DIR
        if stage:
            kid = write_key_pair(staged / PRIVATE_NAME, staged / PUBLIC_NAME, dev=dev)
            self.stdout.write(
                f"Staged key {kid}; it verifies now and signs after the next rotation"
            )
            return
        private_path = settings.TOKEN_ALGO_PRIVATE_KEY
        public_path = settings.TOKEN_ALGO_PUBLIC_KEY
        old_public = public_path.read_bytes()
        old_kid = key_id(load_public_key(public_path))
        # The old key first joins the verifiers, so no process ever lacks it.
        previous = directory / PREVIOUS_DIR / f"{old_kid}.pem"
        write_atomically(previous, old_public, mode=0o644)
        if (staged / PRIVATE_NAME).exists():
            new_kid = key_id(load_public_key(staged / PUBLIC_NAME))
            write_atomically(public_path, (staged / PUBLIC_NAME).read_bytes(), mode=0o644)
            write_atomically(private_path, (staged / PRIVATE_NAME).read_bytes(), mode=0o600)
            shutil.rmtree(staged)
        else:
            new_kid = write_key_pair(private_path, public_path, dev=dev)
        self.stdout.write(f"Signing with {new_kid}; {old_kid} verifies until its tokens expire")

    def _retire(self, previous_dir: Path) -> None:
        # A previous key's file was written when it stopped signing.
        keep_for = settings.TOKEN_EXPIRATION_SECONDS_INTO_FUTURE + RETIRE_MARGIN_SECONDS
        for path in sorted(previous_dir.glob("*.pem")):
            if path.stat().st_mtime + keep_for < time.time():
                path.unlink()
                self.stdout.write(f"Retired {path.stem}")
