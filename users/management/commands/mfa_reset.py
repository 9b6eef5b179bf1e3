from typing import Any

from django.core.management.base import CommandError, CommandParser

from mfa.selectors import methods_of
from mfa.services import factors_reset
from restapi.commands import EXIT_BAD_INPUT, ServiceCommand
from users.models import MalformedEmail, normalize_email
from users.selectors import user_get_by_email


class Command(ServiceCommand):
    help = (
        "Reset a user's second factors (a lost phone, a lost passkey): removes their "
        "authenticator app, passkeys and recovery codes and revokes every session. They "
        "log in with their password alone and set up a factor again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the user's email address (their login)")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        try:
            user = user_get_by_email(email=normalize_email(email))
        except MalformedEmail:
            raise CommandError(
                f"{email!r} is not an email address", returncode=EXIT_BAD_INPUT
            ) from None
        if user is None:
            raise CommandError(f"No user {email}")
        had = methods_of(user=user)
        factors_reset(user=user)
        removed = ", ".join(had) if had else "none were set up"
        self.stdout.write(
            f"Reset the second factors of {user.email} (user_id {user.pk}): {removed}; "
            "every session revoked."
        )
