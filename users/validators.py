from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError


class MaximumLengthValidator:
    """Caps passwords (1024 characters by default) so that hashing cost stays bounded."""

    def __init__(self, max_length: int = 1024) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: AbstractBaseUser | None = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                f"This password is too long: at most {self.max_length} characters.",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password can have at most {self.max_length} characters."
