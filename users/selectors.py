"""Reads on users. The access rule lives here: a user sees only themselves, an admin everyone."""

from django.db.models import QuerySet

from restapi.exceptions import NotFound
from restapi.pagination import MAX_DB_ID, Page, page_of
from restapi.signals import announce_read
from users.models import User


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


def user_read(*, actor: User, user_id: int) -> User:
    """GET /user/{id}: user_get_for_actor, announced as a read."""
    user = user_get_for_actor(actor=actor, user_id=user_id)
    announce_read(actor, "user.read", user_id=user.pk)
    return user


def user_search(
    *,
    actor: User,
    email: str,
    state: int | None = None,
    verified: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[User]:
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
    page = page_of(users, limit=limit, cursor=cursor)
    announce_read(actor, "user.searched", email=email, found=len(page.items))
    return page


def user_get_by_email(*, email: str) -> User | None:
    """The account whose login is this address (normalized, as users.models stores it)."""
    return User.objects.filter(email=email).first()


def user_get(*, user_id: int) -> User | None:
    """For operators (manage.py): any user by id, no actor check."""
    return User.objects.filter(pk=user_id).first()
