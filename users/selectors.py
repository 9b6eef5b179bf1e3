"""Reads on users. The access rule lives here: a user sees only themselves, an admin everyone."""

import base64
import binascii
import json
from dataclasses import dataclass

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from restapi.exceptions import NotFound
from users.models import User

MAX_DB_ID = 2**63 - 1


def user_get_for_actor(*, actor: User, user_id: int) -> User:
    """The user with this id if the actor may see it; the same 404 for absent and not allowed."""
    if actor.pk == user_id:
        return actor
    if not actor.is_admin or not 0 < user_id <= MAX_DB_ID:
        raise NotFound()
    try:
        return User.objects.get(pk=user_id)
    except User.DoesNotExist as exc:
        raise NotFound() from exc


@dataclass(frozen=True)
class Page:
    users: list[User]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = json.loads(base64.urlsafe_b64decode(padded.encode()))["id"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValidationError({"cursor": ["Invalid cursor."]}) from exc
    if not isinstance(last_id, int) or not 0 < last_id <= MAX_DB_ID:
        raise ValidationError({"cursor": ["Invalid cursor."]})
    return last_id


def user_search(
    *,
    actor: User,
    email: str,
    state: int | None = None,
    verified: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page:
    """Case-insensitive substring match on email, newest first, keyset-paginated by id.

    Emails are stored in lower case, so `contains` on the lowered term is a plain LIKE that
    the trigram index serves; Django escapes `%` and `_` in the term.
    """
    users: QuerySet[User] = User.objects.filter(email__contains=email.lower())
    if not actor.is_admin:
        users = users.filter(pk=actor.pk)
    if state is not None:
        users = users.filter(state=state)
    if verified is not None:
        users = users.filter(verified=verified)
    if cursor:
        users = users.filter(pk__lt=decode_cursor(cursor))
    found = list(users.order_by("-pk")[: limit + 1])
    next_cursor = encode_cursor(found[limit - 1].pk) if len(found) > limit else None
    return Page(users=found[:limit], next_cursor=next_cursor)
