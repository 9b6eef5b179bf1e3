from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from auth.models import Session
from auth.services import sessions_revoke


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not generic at run time
    list_display = [
        "id",
        "user",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "revoked_reason",
        "client_ip",
    ]
    list_filter = ["revoked_reason"]
    search_fields = ["user__email", "client_ip"]
    list_select_related = ["user"]
    ordering = ["-created_at"]
    readonly_fields = [field.name for field in Session._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False  # every field is read-only: a Save only rewrote the whole row

    @admin.action(description="Revoke")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        count = sessions_revoke(queryset, reason="admin")
        self.message_user(request, f"Revoked {count} sessions", messages.SUCCESS)
