"""Writes on users. Every function is one transaction and takes keyword arguments only."""

import uuid

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from auth.ratelimit import login_attempt_claim, login_attempt_succeeded
from auth.services import session_revoke_all
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


def _check_current_password(user: User, current_password: str | None) -> None:
    # Guessing through this check is throttled like guessing through /login.
    login_attempt_claim(email=user.email)
    if not (current_password and user.check_password(current_password)):
        raise ValidationError(
            {"current_password": ["Give your current password to change email or password."]}
        )
    login_attempt_succeeded(email=user.email)


def user_update(
    *,
    actor: User,
    user: User,
    actor_session: uuid.UUID | None = None,
    email: str | None = None,
    password: str | None = None,
    current_password: str | None = None,
    state: int | None = None,
    role: str | None = None,
) -> User:
    """A password change revokes every session of the user but the actor's own current one."""
    if (state is not None or role is not None) and not actor.is_admin:
        raise Forbidden(detail="Only an admin can change state or role.")
    if (email is not None or password is not None) and actor.pk == user.pk:
        _check_current_password(user, current_password)
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
            if password is not None:
                keep = actor_session if actor.pk == user.pk else None
                session_revoke_all(user=user, reason="password_changed", keep=keep)
            if user.state == UserState.DEACTIVATED:
                session_revoke_all(user=user, reason="deactivated")
    except IntegrityError as exc:
        raise EmailTaken() from exc
    return user


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    user.state = UserState.DEACTIVATED
    user.save(update_fields=["state", "updated_at"])
    session_revoke_all(user=user, reason="deactivated")
    return user


@transaction.atomic
def user_set_role(*, user: User, role: Role) -> User:
    """For operators (manage.py create_admin): no actor check, the shell is the authority."""
    user.role = role
    user.save(update_fields=["role", "updated_at"])
    return user
