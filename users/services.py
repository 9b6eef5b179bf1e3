"""Writes on users. Every function is one transaction and takes keyword arguments only."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from restapi.exceptions import Conflict, Forbidden
from users.models import Role, User, UserState, normalize_email


class EmailTaken(Conflict):
    default_code = "email_taken"
    default_detail = "An account with this email already exists."


def _check_password_rules(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc


def user_create(*, email: str, password: str) -> User:
    user = User(email=normalize_email(email))
    _check_password_rules(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        # The unique index on LOWER(email) decides races between simultaneous registrations.
        raise EmailTaken() from exc
    return user


def user_update(
    *,
    actor: User,
    user: User,
    email: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
    state: int | None = None,
    role: str | None = None,
) -> User:
    if (state is not None or role is not None) and not actor.is_admin:
        raise Forbidden(detail="Only an admin can change state or role.")
    changes_own_credentials = (email is not None or password is not None) and actor.pk == user.pk
    if changes_own_credentials and not (current_password and user.check_password(current_password)):
        raise ValidationError(
            {"current_password": ["Give your current password to change email or password."]}
        )
    if email is not None:
        user.email = normalize_email(email)
    if password is not None:
        _check_password_rules(password, user)
        user.set_password(password)
    if state is not None:
        user.state = UserState(state)
    if role is not None:
        user.role = Role(role)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise EmailTaken() from exc
    return user


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    user.state = UserState.DEACTIVATED
    user.save(update_fields=["state", "updated_at"])
    return user


@transaction.atomic
def user_set_role(*, user: User, role: Role) -> User:
    """For operators (manage.py create_admin): no actor check, the shell is the authority."""
    user.role = role
    user.save(update_fields=["role", "updated_at"])
    return user
