import getpass
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from rest_framework.exceptions import ValidationError

from restapi.commands import EXIT_BAD_INPUT, ServiceCommand
from users.models import MalformedEmail, Role, normalize_email
from users.selectors import user_get_by_email
from users.serializers import UserCreateInput
from users.services import user_create, user_set_role

NO_PROMPT = "No password: set ADMIN_PASSWORD, or run the command in a terminal to be asked"


def valid_email(email: str) -> str:
    """The address as registration takes it (the API's field, then its normalisation)."""
    serializer = UserCreateInput(data={"email": email}, partial=True)
    serializer.is_valid(raise_exception=True)
    try:
        return normalize_email(serializer.validated_data["email"])
    except MalformedEmail:
        raise ValidationError({"email": ["Enter a valid email address."]}) from None


def new_password() -> str:
    """$ADMIN_PASSWORD, or asked twice on a terminal; never an argument (ps would show it)."""
    if password := os.environ.get("ADMIN_PASSWORD"):
        return password
    if sys.stdin is None or not sys.stdin.isatty():
        raise CommandError(NO_PROMPT, returncode=EXIT_BAD_INPUT)
    try:
        password = getpass.getpass("Password: ")
        again = getpass.getpass("Password (again): ")
    except EOFError:
        raise CommandError(NO_PROMPT, returncode=EXIT_BAD_INPUT) from None
    if password != again:
        raise CommandError("The two passwords differ", returncode=EXIT_BAD_INPUT)
    return password


class Command(ServiceCommand):
    help = (
        "Make an admin: creates the account, or promotes an existing one. The address is "
        "checked as registration checks it; a new account's password comes from "
        "$ADMIN_PASSWORD or a prompt (never from the command line) and must pass the "
        "password rules."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the admin's email address (their login)")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        normalized = valid_email(email)
        user = user_get_by_email(email=normalized)
        if user is None:
            password = new_password()
            UserCreateInput(data={"email": email, "password": password}).is_valid(
                raise_exception=True
            )
            with transaction.atomic():
                user = user_create(email=email, password=password)
                user_set_role(user=user, role=Role.ADMIN)
            sent = ""
            if settings.USER_EMAIL_VERIFICATION_ENABLED:
                sent = " A verification link was sent to it."
            self.stdout.write(f"Created {user.email} (user_id {user.pk}) as an admin.{sent}")
            return
        note = "" if user.is_active else " The account is deactivated: it cannot log in."
        if user.is_admin:
            self.stdout.write(f"{user.email} (user_id {user.pk}) is already an admin.{note}")
            return
        user_set_role(user=user, role=Role.ADMIN)
        kept = " Its password is unchanged." if os.environ.get("ADMIN_PASSWORD") else ""
        self.stdout.write(f"Promoted {user.email} (user_id {user.pk}) to admin.{kept}{note}")
