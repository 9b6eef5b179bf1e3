"""Reads on sessions. A user's session is looked up the way a user's file is: absent,
ended and someone else's are the same 404."""

import uuid
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from auth.models import Session
from restapi.exceptions import NotFound


def sessions_active_for(*, user: AbstractBaseUser) -> QuerySet[Session]:
    return Session.objects.live().filter(user_id=user.pk).order_by("-last_used_at")


def session_get_for_user(*, user: AbstractBaseUser, session_id: uuid.UUID) -> Session:
    session = sessions_active_for(user=user).filter(pk=session_id).first()
    if session is None:
        raise NotFound()
    return session


@cache
def _session_user_sql() -> tuple[str, list[str]]:
    model = get_user_model()
    fields = model._meta.concrete_fields
    columns = ", ".join([*(f'u."{field.column}"' for field in fields), "s.role_limit"])
    # The conditions of Session.objects.live(). Only the models' own table and column
    # names are put into the text; every value is a parameter.
    sql = (
        f"SELECT {columns} FROM {Session._meta.db_table} s "  # noqa: S608
        f'JOIN "{model._meta.db_table}" u ON u."{model._meta.pk.column}" = s.user_id '
        "WHERE s.id = %s AND s.user_id = %s AND s.revoked_at IS NULL AND s.expires_at > %s"
    )
    return sql, [field.attname for field in fields]


def session_user(*, session_id: uuid.UUID, user_id: int) -> AbstractBaseUser | None:
    """The user of this session if the session is live and the user active, in one
    statement written once: an authenticated request pays for no query building."""
    sql, names = _session_user_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [session_id, user_id, timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    *values, role_limit = row
    user = get_user_model().from_db(connection.alias, names, values)
    # The user model applies it (users.models.User.is_admin); the row is untouched.
    user.session_role_limit = role_limit
    return user if user.is_active else None
