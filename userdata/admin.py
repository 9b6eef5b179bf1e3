from django.contrib import admin
from django.http import HttpRequest

from userdata.models import UserFile


@admin.register(UserFile)
class UserFileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not generic at run time
    list_display = [
        "id",
        "user",
        "filename",
        "data_type",
        "size_in_bytes",
        "content_type",
        "created_at",
    ]
    list_filter = ["data_type", "content_type"]
    search_fields = ["filename", "user__email", "sha256"]
    list_select_related = ["user"]
    ordering = ["-id"]
    readonly_fields = [field.name for field in UserFile._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # files arrive through the API or manage.py user_files

    def has_change_permission(self, request: HttpRequest, obj: UserFile | None = None) -> bool:
        return False  # every field is read-only: a Save only rewrote the whole row

    def has_delete_permission(self, request: HttpRequest, obj: UserFile | None = None) -> bool:
        return False  # deleting must remove the stored object too: use the API
