"""At most one live token per user and purpose, held by a partial unique index; wrong
guesses no longer burn a token (the per-IP buckets bound them), so `wrong_attempts` goes.

Before the index: every live token that wrong guesses had already killed is cancelled
(so that dropping the count does not revive it; the limit is read as the service read
it), and of several live tokens of one user and purpose (parallel issues) all but the
newest are cancelled, as a new token would have done.
"""

from typing import Any

from django.db import migrations, models
from django.db.models import Count, Max
from django.utils import timezone

from restapi.env import env_int

LIVE = {"used_at__isnull": True, "cancelled_at__isnull": True}


def cancel_dead_and_superseded(apps: Any, schema_editor: Any) -> None:
    OneTimeToken = apps.get_model("users", "OneTimeToken")
    now = timezone.now()
    wrong_limit = env_int("USER_OTP_MAX_WRONG_ATTEMPTS", 5)
    OneTimeToken.objects.filter(**LIVE, wrong_attempts__gte=wrong_limit).update(cancelled_at=now)
    crowded = (
        OneTimeToken.objects.filter(**LIVE)
        .values("user_id", "purpose")
        .annotate(live=Count("pk"), newest=Max("pk"))
        .filter(live__gt=1)
    )
    for group in crowded:
        OneTimeToken.objects.filter(
            **LIVE, user_id=group["user_id"], purpose=group["purpose"], pk__lt=group["newest"]
        ).update(cancelled_at=now)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0004_normalize_email_domains"),
    ]

    operations = [
        migrations.RunPython(cancel_dead_and_superseded, migrations.RunPython.noop),
        migrations.RemoveIndex(
            model_name="onetimetoken",
            name="user_tokens_live_idx",
        ),
        migrations.RemoveField(
            model_name="onetimetoken",
            name="wrong_attempts",
        ),
        migrations.AddConstraint(
            model_name="onetimetoken",
            constraint=models.UniqueConstraint(
                condition=models.Q(("cancelled_at__isnull", True), ("used_at__isnull", True)),
                fields=("user", "purpose"),
                name="user_tokens_one_live",
            ),
        ),
    ]
