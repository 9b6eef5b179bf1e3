from django.db.models import QuerySet

from auth.models import Session
from users.models import User


def sessions_active_for(*, user: User) -> QuerySet[Session]:
    return Session.objects.live().filter(user=user).order_by("-last_used_at")
