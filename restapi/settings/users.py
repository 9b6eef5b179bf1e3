import os

from restapi.env import env_bool, env_int

AUTH_USER_MODEL = "users.User"
# The only backend: Django's authenticate() (the admin's login) checks passwords through
# the same brute-force limits as the API.
AUTHENTICATION_BACKENDS = ["users.backends.PasswordBackend"]

# argon2id cost; a stored hash made with other values is rehashed at the next login.
PASSWORD_ARGON2_MEMORY_KIB = env_int("PASSWORD_ARGON2_MEMORY_KIB", 19456)
PASSWORD_ARGON2_TIME_COST = env_int("PASSWORD_ARGON2_TIME_COST", 2)
PASSWORD_ARGON2_PARALLELISM = env_int("PASSWORD_ARGON2_PARALLELISM", 1)

# argon2 computations at once per process, and how long a request waits for a slot (then 503).
# By default the processes together hash as many at once as there are cores: argon2 is
# CPU-bound, and more at once only share the cores (8 at once on 2 cores gave 63 hashes/s
# against 82 with 2).
_CORES = os.cpu_count() or 1
PASSWORD_HASH_CONCURRENCY = env_int(
    "PASSWORD_HASH_CONCURRENCY", max(1, _CORES // env_int("API_WORKERS", _CORES))
)
PASSWORD_HASH_WAIT_SECONDS = env_int("PASSWORD_HASH_WAIT_SECONDS", 5)
# Requests that may wait for a slot at once (each holds a request thread), half of the
# threads: a burst of logins leaves the rest to every other request.
PASSWORD_HASH_MAX_WAITING = env_int(
    "PASSWORD_HASH_MAX_WAITING", max(1, env_int("API_THREADS", 8) // 2)
)

PASSWORD_HASHERS = [
    # Also verifies Django's own argon2 hashes (argon2i too): they share the "argon2" prefix.
    "users.hashers.SettingsArgon2PasswordHasher",
    # Older hashes stay verifiable and are upgraded to argon2id on the next login.
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email",)},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {
        "NAME": "users.validators.MaximumLengthValidator",
        "OPTIONS": {"max_length": PASSWORD_MAX_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

USER_EMAIL_VERIFICATION_ENABLED = env_bool("USER_EMAIL_VERIFICATION_ENABLED", default=True)
USER_EMAIL_VERIFICATION_REQUIRED = env_bool("USER_EMAIL_VERIFICATION_REQUIRED", default=False)
USER_EMAIL_VERIFICATION_EXP_IN_SECONDS = env_int("USER_EMAIL_VERIFICATION_EXP_IN_SECONDS", 86400)
USER_OTP_EXP_IN_SECONDS = env_int("USER_OTP_EXP_IN_SECONDS", 1800)
