from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not generic at run time
    """Read-only: the trail is append-only. A user's page links here with
    ?subject_id=<id> (users/admin.py)."""

    list_display = [
        "id",
        "occurred_at",
        "subject_id",
        "action",
        "actor_kind",
        "actor_id",
        "client_ip",
        "request_id",
    ]
    # Not by action: its choices would be a SELECT DISTINCT over the whole table on every
    # page (?action=user.logged_in in the address filters by one).
    list_filter = ["actor_kind"]
    search_fields = ["=subject_id", "=actor_id", "=request_id", "client_ip"]
    ordering = ["-id"]
    readonly_fields = [field.name for field in AuditEntry._meta.fields]
    # A large table: no second COUNT(*) of all of it beside the filtered page's.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False  # only the retention purge deletes entries
