from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "mfa"
    default_auto_field = "django.db.models.BigAutoField"
