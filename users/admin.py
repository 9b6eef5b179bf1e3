from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import SetPasswordMixin
from django.contrib.auth.hashers import identify_hasher
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from rest_framework.exceptions import ValidationError

from mfa.services import factors_reset
from restapi.clients import client_ip
from restapi.exceptions import ApiError, EmailTaken, InvalidCredentials, Overloaded, RateLimited
from users.models import MalformedEmail, Role, User, UserState, normalize_email
from users.serializers import UserCreateInput
from users.services import (
    password_check,
    user_create,
    user_deactivate,
    user_set_role,
    user_update,
)

FORM_TEMPLATE = "admin/users/user/service_form.html"
# The user's page only shows: changes go through the actions, the add and password pages
# and the API, which revoke sessions and emit events. The hash itself is never shown.
SHOWN_FIELDS = (
    "email",
    "password_summary",
    "password_change_required",
    "state",
    "role",
    "verified",
    "pending_email",
    "last_login",
    "imported_at",
    "created_at",
    "updated_at",
    "audit_trail",
)


def _add_service_errors(form: forms.Form, exc: ValidationError, fields: dict[str, str]) -> None:
    """A service's field errors ({field: [message]}) on the form's fields, named by `fields`
    (others on the form as a whole)."""
    for name, problems in cast(dict[str, list[str]], exc.detail).items():
        for problem in problems:
            form.add_error(fields.get(name), str(problem))


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login through users.services.password_check, like the API's.

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
            raise forms.ValidationError(
                self.error_messages["rate_limited"], code="rate_limited", params={"wait": exc.wait}
            ) from None
        except Overloaded:
            raise forms.ValidationError(
                self.error_messages["overloaded"], code="overloaded"
            ) from None
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


class PasswordForm(SetPasswordMixin, forms.Form):  # type: ignore[type-arg]  # not generic at run time
    """A new password, twice, checked by the password validators. For one's own account,
    the current password too: user_update checks it as the API does (throttled)."""

    password1, password2 = SetPasswordMixin.create_password_fields(
        label1="New password", label2="New password (again)"
    )

    def __init__(self, user: User, *, own: bool, **kwargs: Any) -> None:
        self.user = user
        super().__init__(**kwargs)
        if own:
            self.fields = {
                "current_password": forms.CharField(
                    label="Your current password",
                    strip=False,
                    widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                ),
                **self.fields,
            }

    def clean(self) -> dict[str, Any]:
        self.validate_passwords()
        self.validate_password_for_user(self.user)
        super().clean()
        return self.cleaned_data


class UserAddForm(SetPasswordMixin, forms.Form):  # type: ignore[type-arg]  # not generic at run time
    """What registration takes (the API's email field and the password validators), and the
    role: the account is made by users.services.user_create, as `manage.py create_admin`."""

    email = forms.CharField(label="Email", strip=False)
    password1, password2 = SetPasswordMixin.create_password_fields()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.USER)

    def clean_email(self) -> str:
        serializer = UserCreateInput(data={"email": self.cleaned_data["email"]}, partial=True)
        if not serializer.is_valid():
            raise forms.ValidationError(serializer.errors["email"])
        try:
            return normalize_email(serializer.validated_data["email"])
        except MalformedEmail:
            raise forms.ValidationError("Enter a valid email address.") from None

    def clean(self) -> dict[str, Any]:
        self.validate_passwords()
        if email := self.cleaned_data.get("email"):
            self.validate_password_for_user(User(email=email))
        super().clean()
        return self.cleaned_data


@admin.register(User)
class UserAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # not generic at run time
    list_display = ["id", "email", "role", "state", "verified", "created_at", "last_login"]
    list_filter = ["role", "state", "verified"]
    search_fields = ["email"]
    ordering = ["-id"]
    fields = SHOWN_FIELDS
    readonly_fields = SHOWN_FIELDS
    actions = ["deactivate", "reactivate", "reset_second_factors"]

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # Every field is read-only, so a Save only rewrote the whole row unlocked (racing the
        # services' locked writes) and moved updated_at, with no event: the page just shows.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False  # accounts are deactivated, never deleted

    @admin.display(description="Password")
    def password_summary(self, user: User) -> str:
        if not user.has_usable_password():
            summary = "No usable password"
        else:
            try:
                summary = f"{identify_hasher(user.password).algorithm} hash (not shown)"
            except ValueError:
                summary = "Hash in an unknown format (not shown)"
        link = reverse("admin:users_user_password", args=[user.pk])
        return format_html('{} &middot; <a href="{}">Set a new password</a>', summary, link)

    @admin.display(description="Audit trail")
    def audit_trail(self, user: User) -> str:
        link = reverse("admin:audit_auditentry_changelist") + f"?subject_id={user.pk}"
        return format_html('<a href="{}">Entries about this user</a>', link)

    def get_urls(self) -> list[URLPattern]:
        password = path(
            "<path:object_id>/password/",
            self.admin_site.admin_view(self.password_view),
            name="users_user_password",
        )
        return [password, *super().get_urls()]

    def _form_page(
        self,
        request: HttpRequest,
        form: forms.Form,
        *,
        title: str,
        intro: str,
        **extra: Any,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "intro": intro,
            "submit": title,
            **extra,
        }
        return TemplateResponse(request, FORM_TEMPLATE, context)

    def _change_page(self, user: User) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:users_user_change", args=[user.pk]))

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UserAddForm(data=request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    user = user_create(email=data["email"], password=data["password1"])
                    if data["role"] == Role.ADMIN:
                        user_set_role(user=user, role=Role.ADMIN)
            except ValidationError as exc:
                _add_service_errors(form, exc, {"email": "email", "password": "password1"})
            except EmailTaken as exc:
                form.add_error("email", str(exc.detail))
            else:
                self.log_addition(request, user, [{"added": {}}])
                messages.success(request, f"Added {user.email} ({user.role}).")
                return self._change_page(user)
        return self._form_page(
            request,
            form,
            title="Add user",
            intro="The account is made as registration makes it: the address is checked and "
            "normalised, the password hashed, a verification link sent when verification is "
            "on, and a user.created event written when events are on.",
        )

    def password_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        user = self.get_object(request, unquote(object_id))
        if user is None or not self.has_view_permission(request, user):
            raise Http404
        own = user.pk == request.user.pk
        form = PasswordForm(user, own=own, data=request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                user, _ = user_update(
                    actor=request.user,  # type: ignore[arg-type]
                    user=user,
                    password=form.cleaned_data["password1"],
                    current_password=form.cleaned_data.get("current_password"),
                    client_ip=client_ip(request),
                )
            except ValidationError as exc:
                fields = {"password": "password1", "current_password": "current_password"}
                _add_service_errors(form, exc, fields)
            except RateLimited as exc:
                form.add_error(None, f"Too many attempts; try again in {exc.wait} s.")
            except ApiError as exc:  # overloaded: no hashing slot came free in time
                form.add_error(None, str(exc.detail))
            else:
                if own:
                    # This browser stays logged in; every API session was revoked.
                    update_session_auth_hash(request, user)
                self.log_change(request, user, "Set a new password.")
                messages.success(
                    request, f"New password set for {user.email}; every session was revoked."
                )
                return self._change_page(user)
        return self._form_page(
            request,
            form,
            title="Set a new password",
            intro=f"The new password for {user.email} must pass the password rules. Every "
            "session of the account is revoked, and a user.password_changed event written when "
            "events are on.",
            original=user,
        )

    @admin.action(description="Deactivate (revokes every session)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset.filter(state=UserState.ACTIVE))
        for user in users:
            user_deactivate(actor=cast(User, request.user), user=user)
        self.message_user(request, f"Deactivated {len(users)} users", messages.SUCCESS)

    @admin.action(description="Reset second factors (revokes every session)")
    def reset_second_factors(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset)
        for user in users:
            factors_reset(user=user)
        self.message_user(
            request, f"Reset the second factors of {len(users)} users", messages.SUCCESS
        )

    @admin.action(description="Reactivate")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset.filter(state=UserState.DEACTIVATED))
        for user in users:
            user_update(actor=request.user, user=user, state=UserState.ACTIVE)  # type: ignore[arg-type]
        self.message_user(request, f"Reactivated {len(users)} users", messages.SUCCESS)


def own_password_change(
    request: HttpRequest, extra_context: dict[str, Any] | None = None
) -> HttpResponse:
    """The site's "Change password" link: Django's page sets a password without the current
    one and saves the whole row; this one asks for it and goes through user_update."""
    return HttpResponseRedirect(reverse("admin:users_user_password", args=[request.user.pk]))


admin.site.password_change = own_password_change  # type: ignore[method-assign,assignment]
