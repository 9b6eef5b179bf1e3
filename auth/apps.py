from django.apps import AppConfig


class AuthConfig(AppConfig):
    name = "auth"
    # "auth" is django.contrib.auth's label.
    label = "authn"
    default_auto_field = "django.db.models.BigAutoField"
