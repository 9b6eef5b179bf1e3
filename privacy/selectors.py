"""Reads of privacy. An export is its owner's alone: anyone else's id is the same 404 as
an id that does not exist (admins too: an archive holds everything about a person)."""

import uuid
from dataclasses import dataclass

from django.db.models import Min, QuerySet
from django.utils import timezone

from privacy.models import ERASURE_PENDING, Erasure, Export
from restapi.exceptions import NotFound
from users.models import User


def export_get_for_owner(*, user: User, export_id: uuid.UUID) -> Export:
    export = Export.objects.filter(pk=export_id, user_id=user.pk).first()
    if export is None or (export.expires_at is not None and export.expires_at <= timezone.now()):
        raise NotFound()
    return export


def erasures_pending() -> QuerySet[Erasure]:
    return Erasure.objects.filter(state__in=ERASURE_PENDING)


def erasure_of(*, user_id: int) -> Erasure | None:
    return Erasure.objects.filter(user_id=user_id).first()


@dataclass(frozen=True)
class ErasuresBacklog:
    pending: int
    overdue_seconds: float


def erasures_backlog() -> ErasuresBacklog:
    """Erasures not done yet, and how far past due the oldest due one is (for /metrics)."""
    now = timezone.now()
    pending = erasures_pending()
    due = pending.filter(due_at__lte=now).aggregate(oldest=Min("due_at"))["oldest"]
    overdue = (now - due).total_seconds() if due is not None else 0.0
    return ErasuresBacklog(pending=pending.count(), overdue_seconds=overdue)
