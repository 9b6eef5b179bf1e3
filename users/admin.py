from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from users.models import User, UserState
from users.services import user_deactivate, user_update


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["id", "email", "role", "state", "verified", "created_at", "last_login"]
    list_filter = ["role", "state", "verified"]
    search_fields = ["email"]
    ordering = ["-id"]
    # Changes go through the actions (and the API), which revoke sessions and emit events.
    readonly_fields = [
        "email",
        "password",
        "state",
        "role",
        "verified",
        "pending_email",
        "last_login",
        "created_at",
        "updated_at",
    ]
    actions = ["deactivate", "reactivate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # manage.py create_admin, or registration

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # accounts are deactivated, never deleted

    @admin.action(description="Deactivate (revokes every session)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset.filter(state=UserState.ACTIVE))
        for user in users:
            user_deactivate(user=user)
        self.message_user(request, f"Deactivated {len(users)} users", messages.SUCCESS)

    @admin.action(description="Reactivate")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset.filter(state=UserState.DEACTIVATED))
        for user in users:
            user_update(actor=request.user, user=user, state=UserState.ACTIVE)  # type: ignore[arg-type]
        self.message_user(request, f"Reactivated {len(users)} users", messages.SUCCESS)
