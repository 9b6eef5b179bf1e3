"""A file's upload and deletion are audited (audit, below this app, cannot know its
model), in the transaction of the row's insert or delete."""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from audit.services import entry_add
from userdata.models import UserFile


def _details(record: UserFile) -> dict[str, Any]:
    return {"data_id": record.pk, "filename": record.filename}


@receiver(post_save, sender=UserFile)
def on_file_saved(sender: type, instance: UserFile, created: bool, **kwargs: Any) -> None:
    if created:
        entry_add(user_id=instance.user_id, action="user.data.uploaded", details=_details(instance))


@receiver(post_delete, sender=UserFile)
def on_file_deleted(sender: type, instance: UserFile, **kwargs: Any) -> None:
    entry_add(user_id=instance.user_id, action="user.data.deleted", details=_details(instance))
