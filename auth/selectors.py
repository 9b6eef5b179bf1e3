from django.db.models import QuerySet
from django.utils import timezone

from auth.models import Session
from users.models import User


def sessions_active_for(*, user: User) -> QuerySet[Session]:
    return Session.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-last_used_at")
