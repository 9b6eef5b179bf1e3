from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from kafka_events.models import OutboxEvent
from kafka_events.services import outbox_retry_now


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not generic at run time
    list_display = [
        "id",
        "event_type",
        "topic",
        "key",
        "created_at",
        "sent_at",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["event_type", "topic", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["event_id", "key"]
    ordering = ["-id"]
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False  # every field is read-only: a Save only rewrote the whole row

    @admin.action(description="Retry now (unsent rows)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = outbox_retry_now(queryset)
        self.message_user(request, f"{count} rows will be retried", messages.SUCCESS)
