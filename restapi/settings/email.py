from restapi.env import env_bool, env_int, env_path, env_str

from .base import DEBUG

# Console in development (each email is a log line), SMTP otherwise; any Django backend works.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "restapi.mail.ConsoleEmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 10)
EMAIL_FILE_PATH = env_path("EMAIL_FILE_PATH", "./var/mail")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "restapi <no-reply@localhost>")
# How many times a failed send is tried again (1 s, 2 s, 4 s… apart) before it is logged.
EMAIL_SEND_RETRIES = env_int("EMAIL_SEND_RETRIES", 3)

# Where clients reach the service: the base of the links in emails.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "https://localhost:3000").rstrip("/")
# Optional link for password reset emails, e.g. a front end's page:
# "https://app.example.com/reset?email={email}&token={token}". Without it the email
# carries the token to paste into POST /user/password/change.
PASSWORD_RESET_URL = env_str("PASSWORD_RESET_URL")
