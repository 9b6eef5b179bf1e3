from django.conf import settings
from django.db import models


class UserFile(models.Model):
    """A user's stored file (the Rust service's `users_data` table and DataRecord)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=255)
    data_type = models.CharField(max_length=128, blank=True)
    size_in_bytes = models.BigIntegerField()
    comments = models.CharField(max_length=1024, blank=True)
    encoding = models.CharField(max_length=64, blank=True)
    # Made by the server, never from the filename.
    key = models.CharField(max_length=512, unique=True)
    sloc = models.CharField(max_length=600)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "users_data"
        indexes = [models.Index(fields=["user", "-id"], name="users_data_owner_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(size_in_bytes__gte=0), name="users_data_size_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.size_in_bytes} bytes) of user {self.user_id}"
