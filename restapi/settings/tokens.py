from datetime import timedelta

from restapi.env import env_int, env_path, env_str

from .email import PUBLIC_BASE_URL

TOKEN_EXPIRATION_SECONDS_INTO_FUTURE = env_int("TOKEN_EXPIRATION_SECONDS_INTO_FUTURE", 900)
TOKEN_REFRESH_EXPIRATION_SECONDS = env_int("TOKEN_REFRESH_EXPIRATION_SECONDS", 2592000)
TOKEN_ORG = env_str("TOKEN_ORG", "example.org")
# Every access token names who issued it (`iss`) and whom it is for (`aud`); both are
# checked on every request, and other services should check them too. The issuer is the
# service's URL unless set (it is also /.well-known/openid-configuration's `issuer`); the
# audience defaults to the issuer: the tokens are for this API. Services that accept
# them as well share one audience name: set it for all of them.
TOKEN_ISSUER = env_str("TOKEN_ISSUER") or PUBLIC_BASE_URL
TOKEN_AUDIENCE = env_str("TOKEN_AUDIENCE") or TOKEN_ISSUER
# The Rust service read the raw JWT from a header with this name; `Authorization: Bearer` works too.
TOKEN_HEADER = env_str("TOKEN_HEADER", "Bearer")
SERVER_PKI_DIR_JWT = env_path("SERVER_PKI_DIR_JWT", "./jwt")
TOKEN_ALGO_PRIVATE_KEY = env_path("TOKEN_ALGO_PRIVATE_KEY", "./jwt/private-key-pkcs8.pem")
TOKEN_ALGO_PUBLIC_KEY = env_path("TOKEN_ALGO_PUBLIC_KEY", "./jwt/public-key.pem")

SIMPLE_JWT = {
    "ALGORITHM": "ES256",
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=TOKEN_EXPIRATION_SECONDS_INTO_FUTURE),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=TOKEN_REFRESH_EXPIRATION_SECONDS),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

# A rotated refresh token presented again within this window (a client racing itself)
# gets the current tokens; later, it revokes the whole session.
TOKEN_REFRESH_REUSE_GRACE_SECONDS = env_int("TOKEN_REFRESH_REUSE_GRACE_SECONDS", 10)

# Brute-force protection (see auth/ratelimit.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
LOGIN_FREE_FAILURES = 5
LOGIN_MAX_WAIT_SECONDS = 900
# "N/S": a burst of N per client IP (or per account), refilled at N per S seconds.
RATE_LIMITS = {
    # Every password check: the API's and the admin's logins, a current_password.
    "login": env_str("RATE_LIMIT_LOGIN", "30/60"),
    "register": env_str("RATE_LIMIT_REGISTER", "20/3600"),
    "password_reset": env_str("RATE_LIMIT_PASSWORD_RESET", "5/900"),
    "verify_resend": env_str("RATE_LIMIT_VERIFY_RESEND", "5/900"),
    # Guesses of one-time tokens: a reset code, a verification link.
    "password_change": env_str("RATE_LIMIT_PASSWORD_CHANGE", "10/900"),
    "verify": env_str("RATE_LIMIT_VERIFY", "10/900"),
    # An owner's email changes, per client IP and per account.
    "email_change": env_str("RATE_LIMIT_EMAIL_CHANGE", "10/3600"),
    "email_change_account": env_str("RATE_LIMIT_EMAIL_CHANGE_ACCOUNT", "5/3600"),
    # Data exports, per account: each reads and stores everything the user has.
    "export_account": env_str("RATE_LIMIT_EXPORT_ACCOUNT", "3/3600"),
}
