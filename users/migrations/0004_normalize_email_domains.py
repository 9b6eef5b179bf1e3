"""Stored addresses get their domain spelled as the mail layer sends to it (IDNA 2003).

Before this, `x@ss.de` and `x@ß.de` (or `x@example.com` and the same written in full-width
letters) could be two accounts whose mail reached one mailbox. Rows whose
addresses now coincide are a collision: the row that already has the normalised spelling
keeps it (logins with that spelling reached it before), else the oldest row gets it. Every
other row of the group keeps its old spelling, is deactivated and has its sessions
revoked, and its id is printed: an operator can give it another address in the admin
and reactivate it. Pending addresses and the addresses of email-change tokens are
normalised too (they are not unique). A stored domain that cannot be encoded is left as
it is.
"""

from collections import defaultdict
from typing import Any

from django.db import migrations
from django.utils import timezone


def normalized(email: str) -> str:
    # A copy of users.models.normalize_email as of this migration, which must not change
    # when that function does.
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return domain.lower()
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}".lower()
    except UnicodeError:
        return email


def normalize(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("users", "User")
    Session = apps.get_model("authn", "Session")
    OneTimeToken = apps.get_model("users", "OneTimeToken")
    groups: dict[str, list[Any]] = defaultdict(list)
    for user in User.objects.order_by("pk").only("pk", "email", "state"):
        groups[normalized(user.email)].append(user)
    now = timezone.now()
    for email, users in groups.items():
        keeper = next((u for u in users if u.email == email), users[0])
        for user in users:
            if user is keeper:
                continue
            User.objects.filter(pk=user.pk).update(state=1)
            Session.objects.filter(user_id=user.pk, revoked_at__isnull=True).update(
                revoked_at=now, revoked_reason="email_collision"
            )
            print(
                f"\n  user {user.pk}: its address now means user {keeper.pk}'s "
                f"({email}); deactivated"
            )
        if keeper.email != email:
            User.objects.filter(pk=keeper.pk).update(email=email)
    for user in User.objects.exclude(pending_email=None).only("pk", "pending_email"):
        if (pending := normalized(user.pending_email)) != user.pending_email:
            User.objects.filter(pk=user.pk).update(pending_email=pending)
    for token in OneTimeToken.objects.exclude(new_email="").only("pk", "new_email"):
        if (new_email := normalized(token.new_email)) != token.new_email:
            OneTimeToken.objects.filter(pk=token.pk).update(new_email=new_email)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0003_onetime_tokens"),
        ("authn", "0001_initial"),
    ]

    # Irreversible in meaning (the old spellings are gone), harmless to run backwards.
    operations = [migrations.RunPython(normalize, migrations.RunPython.noop)]
