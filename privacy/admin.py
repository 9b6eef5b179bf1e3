from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from privacy import services
from privacy.models import ERASURE_PENDING, Erasure


class PendingFilter(admin.SimpleListFilter):
    """Pending erasures first: what an operator on call looks for."""

    title = "pending"
    parameter_name = "pending"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[type-arg]
        return [("yes", "scheduled or running"), ("no", "done or cancelled")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Erasure]) -> QuerySet[Erasure]:
        if self.value() == "yes":
            return queryset.filter(state__in=ERASURE_PENDING)
        if self.value() == "no":
            return queryset.exclude(state__in=ERASURE_PENDING)
        return queryset


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not generic at run time
    """Read-only but for the two decisions an operator makes: cancel, or run it now."""

    list_display = [
        "user_id",
        "state",
        "step",
        "requested_by",
        "requested_at",
        "due_at",
        "attempts",
        "last_error",
        "finished_at",
    ]
    list_filter = [PendingFilter, "state"]
    search_fields = ["=user_id"]
    ordering = ["due_at"]
    readonly_fields = [field.name for field in Erasure._meta.fields]
    actions = ["cancel", "run_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Erasure | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Erasure | None = None) -> bool:
        return False

    @admin.action(description="Cancel the selected erasures (the accounts stay deactivated)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Erasure]) -> None:
        for erasure in queryset:
            try:
                services.erasure_cancel(user_id=erasure.user_id)
            except services.NotCancellable as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"Cancelled the erasure of user {erasure.user_id}")

    @admin.action(description="Erase the selected users now (not waiting for the grace period)")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Erasure]) -> None:
        count = services.erasures_hasten(erasures=queryset)
        self.message_user(request, f"{count} erasures are due now; the job runner does them")
