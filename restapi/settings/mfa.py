from urllib.parse import urlsplit

from restapi.env import env_bool, env_int, env_list, env_str

from .base import SERVER_NAME_LABEL
from .email import PUBLIC_BASE_URL

# The issuer an authenticator app shows beside the account.
MFA_ISSUER = env_str("MFA_ISSUER", SERVER_NAME_LABEL)
# Fernet keys (urlsafe base64 of 32 bytes: `python -c "from cryptography.fernet import
# Fernet; print(Fernet.generate_key().decode())"`), comma-separated, newest first: TOTP
# secrets are encrypted with the first and read with any (mfa/crypto.py). Development's
# key is public, so production refuses it.
DEV_MFA_ENCRYPTION_KEY = "ZGV2LW9ubHktbWZhLWtleS1kby1ub3QtdXNlLWl0ISE="
MFA_ENCRYPTION_KEYS = env_list("MFA_ENCRYPTION_KEYS", DEV_MFA_ENCRYPTION_KEY)
# How recent an authentication a sensitive change needs, for a user with a factor.
MFA_STEP_UP_SECONDS = env_int("MFA_STEP_UP_SECONDS", 600)
# The lifetime of a login's mfa_token and of a WebAuthn ceremony's challenge.
MFA_TOKEN_TTL_SECONDS = min(env_int("MFA_TOKEN_TTL_SECONDS", 300), 300)
MFA_PASSKEY_LOGIN = env_bool("MFA_PASSKEY_LOGIN", False)
MFA_REQUIRED_FOR_ADMINS = env_bool("MFA_REQUIRED_FOR_ADMINS", False)
# The WebAuthn relying party: its id is the site's host name, and the origins a browser
# may sign for (the service's own by default).
WEBAUTHN_RP_ID = env_str("WEBAUTHN_RP_ID", urlsplit(PUBLIC_BASE_URL).hostname or "localhost")
WEBAUTHN_RP_NAME = env_str("WEBAUTHN_RP_NAME", SERVER_NAME_LABEL)
WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS", PUBLIC_BASE_URL)
