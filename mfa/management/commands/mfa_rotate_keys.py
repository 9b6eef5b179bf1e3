from typing import Any

from mfa.services import totp_secrets_rotate
from restapi.commands import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Re-encrypt every TOTP secret under the first key of MFA_ENCRYPTION_KEYS. To rotate: "
        "put a new key first (keep the old ones after it), deploy, run this, then drop the "
        "old keys. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = totp_secrets_rotate()
        self.stdout.write(f"Re-encrypted {count} TOTP secrets under the first key")
