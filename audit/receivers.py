"""Signal receivers: each audited action becomes one entry, in the action's transaction
(a receiver runs inside the service's atomic block, so a rolled-back action leaves
none). Independent of KAFKA_ENABLED: the audit is not the outbox.

Every user event (restapi.signals.announce) is audited under its own type; what is no
user event comes through restapi.signals.audit (auth's revocations) or, for files,
from userdata; the admin site's own login and logout through Django's signals."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models import Model
from django.dispatch import receiver
from django.http import HttpRequest

from audit.services import entry_add
from restapi.signals import audited, user_event


@receiver(user_event)
def on_user_event(
    sender: type, user: Model, event_type: str, data: dict[str, Any], **kwargs: Any
) -> None:
    entry_add(user_id=user.pk, action=event_type, details=data)


@receiver(audited)
def on_audited(
    sender: None, user_id: int, action: str, details: dict[str, Any], **kwargs: Any
) -> None:
    entry_add(user_id=user_id, action=action, details=details)


@receiver(user_logged_in)
def on_admin_site_login(sender: type, request: HttpRequest, user: Model, **kwargs: Any) -> None:
    entry_add(user_id=user.pk, action="user.logged_in", details={"via": "admin_site"})


@receiver(user_logged_out)
def on_admin_site_logout(
    sender: type, request: HttpRequest, user: Model | None, **kwargs: Any
) -> None:
    if user is not None:
        entry_add(user_id=user.pk, action="user.logged_out", details={"via": "admin_site"})
