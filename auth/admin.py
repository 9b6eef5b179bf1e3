from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from auth.models import Session
from auth.ratelimit import client_ip
from auth.services import password_check, sessions_revoke
from restapi.exceptions import InvalidCredentials, Overloaded, RateLimited


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login through auth.services.password_check, like the API's.

    It calls the check itself rather than authenticate(), which can only say yes or no:
    a limited attempt shows the login page with "try again later", not a wrong password.
    """

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "rate_limited": "Too many attempts for this account or from your address. Try again "
        "later (in %(wait)s s).",
        "overloaded": "The service is busy. Try again in a moment.",
    }

    def clean(self) -> dict[str, Any]:
        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email is None or not password:
            return self.cleaned_data
        try:
            self.user_cache = password_check(
                email=email,
                password=password,
                client_ip=client_ip(self.request) if self.request else "",
            )
        except RateLimited as exc:
            raise ValidationError(
                self.error_messages["rate_limited"], code="rate_limited", params={"wait": exc.wait}
            ) from None
        except Overloaded:
            raise ValidationError(self.error_messages["overloaded"], code="overloaded") from None
        except InvalidCredentials:
            raise self.get_invalid_login_error() from None
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = AdminLoginForm
# The service's name, not Django's, in every page's title and header.
admin.site.site_title = f"{settings.SERVER_NAME_LABEL} admin"
admin.site.site_header = f"{settings.SERVER_NAME_LABEL} administration"
admin.site.index_title = "Users, sessions, files and events"
# Roles are the user's `role`; Django's groups grant nothing here.
admin.site.unregister(Group)


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
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
