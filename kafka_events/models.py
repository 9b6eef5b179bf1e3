import uuid

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    """A message to publish, written in the transaction of the change it announces.

    Rows are published in id order per `order_key` (the Kafka key, or the event id for
    a message without one) and marked sent only from the broker's delivery report. A NULL
    `value` is a tombstone: Kafka gets a message without a value, which a compacted topic
    keeps as "this key is gone" (an erased user's last message).
    """

    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    topic = models.CharField(max_length=249)
    key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    order_key = models.CharField(max_length=255)
    event_type = models.CharField(max_length=64)
    value = models.TextField(null=True)  # noqa: DJ001  (NULL is a tombstone, "" a message)
    headers = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "kafka_outbox"
        indexes = [
            models.Index(
                fields=["id"], name="kafka_outbox_pending_idx", condition=models.Q(sent_at=None)
            ),
            models.Index(
                fields=["sent_at"],
                name="kafka_outbox_sent_idx",
                condition=models.Q(sent_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
