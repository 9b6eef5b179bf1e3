"""Reads of privacy. An export is its owner's alone: anyone else's id is the same 404 as
an id that does not exist (admins too: an archive holds everything about a person)."""

import uuid

from django.db.models import QuerySet
from django.utils import timezone

from privacy.models import Erasure, ErasureState, Export
from restapi.exceptions import NotFound
from users.models import User


def export_get_for_owner(*, user: User, export_id: uuid.UUID) -> Export:
    export = Export.objects.filter(pk=export_id, user_id=user.pk).first()
    if export is None or (export.expires_at is not None and export.expires_at <= timezone.now()):
        raise NotFound()
    return export


def erasures_pending() -> QuerySet[Erasure]:
    return Erasure.objects.filter(state__in=[ErasureState.SCHEDULED, ErasureState.RUNNING])


def erasure_of(*, user_id: int) -> Erasure | None:
    return Erasure.objects.filter(user_id=user_id).first()
