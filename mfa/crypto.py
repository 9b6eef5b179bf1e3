"""The TOTP secrets' encryption at rest: Fernet (AES-128-CBC + HMAC-SHA256) under
MFA_ENCRYPTION_KEYS, newest first. A secret is encrypted with the first key and read with
any of them, so a key is rotated by putting a new one first, running
`manage.py mfa_rotate_keys`, then dropping the old one."""

from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.MFA_ENCRYPTION_KEYS))


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """The same secret under the first key."""
    return fernet().rotate(token.encode()).decode()
