from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from auth.keys import write_key_pair


class Command(BaseCommand):
    help = "Make an ES256 key pair at TOKEN_ALGO_PRIVATE_KEY / TOKEN_ALGO_PUBLIC_KEY."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dev",
            action="store_true",
            help="mark the keys as development keys (production refuses to start with them)",
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when the private key exists"
        )
        parser.add_argument("--force", action="store_true", help="overwrite existing keys")

    def handle(self, *args: Any, dev: bool, if_missing: bool, force: bool, **options: Any) -> None:
        private_path = settings.TOKEN_ALGO_PRIVATE_KEY
        public_path = settings.TOKEN_ALGO_PUBLIC_KEY
        if private_path.exists():
            if if_missing:
                return
            if not force:
                raise CommandError(f"{private_path} exists; pass --force to replace it")
        kid = write_key_pair(private_path, public_path, dev=dev)
        self.stdout.write(f"Wrote {private_path} and {public_path} (kid {kid})")
