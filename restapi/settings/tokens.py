from datetime import timedelta

from restapi.env import env_int, env_path, env_str

TOKEN_EXPIRATION_SECONDS_INTO_FUTURE = env_int("TOKEN_EXPIRATION_SECONDS_INTO_FUTURE", 900)
TOKEN_REFRESH_EXPIRATION_SECONDS = env_int("TOKEN_REFRESH_EXPIRATION_SECONDS", 2592000)
TOKEN_ORG = env_str("TOKEN_ORG", "example.org")
# The seed read the raw JWT from a header with this name; `Authorization: Bearer` works too.
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
