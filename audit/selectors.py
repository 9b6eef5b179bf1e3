"""Reads on the audit trail. A user reads their own entries; an admin anyone's."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser

from audit.models import AuditEntry
from restapi.exceptions import NotFound
from restapi.pagination import MAX_DB_ID, Page, page_of


def entries_for(
    *,
    actor: AbstractBaseUser,
    user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[AuditEntry]:
    """The entries about a user (the actor, by default), newest first. Another user's id
    from a non-admin is the same 404 as a user that does not exist."""
    subject_id = actor.pk if user_id is None else user_id
    if subject_id != actor.pk and not (
        getattr(actor, "is_admin", False)
        and 0 < subject_id <= MAX_DB_ID
        and get_user_model().objects.filter(pk=subject_id).exists()
    ):
        raise NotFound()
    entries = AuditEntry.objects.filter(subject_id=subject_id)
    if action is not None:
        entries = entries.filter(action=action)
    if since is not None:
        entries = entries.filter(occurred_at__gte=since)
    if until is not None:
        entries = entries.filter(occurred_at__lt=until)
    return page_of(entries, limit=limit, cursor=cursor)
