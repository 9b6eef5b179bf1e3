from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class SettingsArgon2PasswordHasher(Argon2PasswordHasher):
    """argon2id with the cost from settings; Django rehashes at login when the cost changed.

    It keeps Django's "argon2" algorithm name, so hashes made by Django's own hasher (and
    argon2i ones) verify and are upgraded on the next login (must_update compares params).
    """

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.PASSWORD_ARGON2_MEMORY_KIB

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.PASSWORD_ARGON2_TIME_COST

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.PASSWORD_ARGON2_PARALLELISM
