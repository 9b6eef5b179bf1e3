from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from auth.keys import write_key_pair
from restapi.commands import ServiceCommand


class Command(ServiceCommand):
    help = "Make an ES256 key pair at TOKEN_ALGO_PRIVATE_KEY / TOKEN_ALGO_PUBLIC_KEY."
    checks_database = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dev",
            action="store_true",
            help="mark the keys as development keys (production refuses to start with them)",
        )
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--if-missing", action="store_true", help="do nothing when the private key exists"
        )
        existing.add_argument(
            "--force",
            action="store_true",
            help="overwrite existing keys (every token they signed stops verifying)",
        )

    def handle(self, *args: Any, dev: bool, if_missing: bool, force: bool, **options: Any) -> None:
        private_path = settings.TOKEN_ALGO_PRIVATE_KEY
        public_path = settings.TOKEN_ALGO_PUBLIC_KEY
        if private_path.exists():
            if if_missing:
                self.stdout.write(f"Kept the existing key pair at {private_path}")
                return
            if not force:
                raise CommandError(f"{private_path} exists; pass --force to replace it")
        kid = write_key_pair(private_path, public_path, dev=dev)
        self.stdout.write(f"Wrote {private_path} and {public_path} (kid {kid})")
