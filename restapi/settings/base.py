from restapi.env import BASE_DIR, env_bool, env_list, env_str
from restapi.logformat import log_format

DEBUG = env_bool("DEBUG", default=True)

# Development gets a fixed throwaway key; production refuses to start without a real one
# (see production.py).
DEV_SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)

SERVER_NAME_API = env_str("SERVER_NAME_API", "api")
# The Rust service's default (README, Configuration): the admin site's title.
SERVER_NAME_LABEL = env_str("SERVER_NAME_LABEL", "rust-restapi")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "*" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "users",
    "auth",
    "mfa",
    "audit",
    "userdata",
    "privacy",
    "kafka_events",
]

MIDDLEWARE = [
    "restapi.middleware.RequestIdMiddleware",
    "restapi.metrics.MetricsMiddleware",
    "restapi.middleware.JsonErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "restapi.middleware.JsonBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Sessions, the logged-in user and messages are the Django admin's (and the docs an
    # admin may open logged in to it); the API authenticates with JWTs, so every other
    # request skips them (restapi.middleware.ADMIN_PATHS).
    "restapi.middleware.AdminSessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "restapi.middleware.AdminAuthenticationMiddleware",
    "restapi.middleware.AdminActorMiddleware",
    "restapi.middleware.AdminMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# /metrics wants `Authorization: Bearer <METRICS_TOKEN>` when this is set.
METRICS_TOKEN = env_str("METRICS_TOKEN")

ROOT_URLCONF = "restapi.urls"
WSGI_APPLICATION = "restapi.wsgi.application"

# Paths have no trailing slash; never redirect to add one.
APPEND_SLASH = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# JSON request bodies are capped at 1 MiB (413 beyond), checked from Content-Length.
# Uploads stream their raw body and have their own limit (USER_DATA_MAX_BYTES).
JSON_BODY_MAX_BYTES = 1024 * 1024
STREAMED_BODY_ROUTES = {("POST", "/user/data")}
DATA_UPLOAD_MAX_MEMORY_SIZE = JSON_BODY_MAX_BYTES
# Arrays and objects nested deeper than this are a 400 (restapi/parsers.py), anywhere in a
# body, free-form values included.
JSON_MAX_DEPTH = 32

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["auth.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["restapi.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "restapi.errors.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "restapi.negotiation.JsonNegotiation",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    "DEFAULT_SCHEMA_CLASS": "restapi.schema.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "restapi",
    "DESCRIPTION": "User management and authentication, per-user files, user events to Kafka.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The error body's `code` (restapi.codes.ErrorCode), rather than a generic CodeEnum.
    "ENUM_NAME_OVERRIDES": {"ErrorCodeEnum": "restapi.schema.ERROR_CODES"},
    # The UI's assets ship in drf-spectacular-sidecar: /docs works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "restapi.schema.implied_errors",
        "kafka_events.schema.allowed_topics_enum",
    ],
    "APPEND_PATHS": {
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "description": "Prometheus text format, summed over every worker. "
                "Needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set. "
                "GET and HEAD only (405 otherwise).",
                "security": [{"metricsToken": []}, {}],
                "responses": {
                    "200": {
                        "description": "Prometheus metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        }
    },
    "APPEND_COMPONENTS": {
        "securitySchemes": {"metricsToken": {"type": "http", "scheme": "bearer"}}
    },
}
# /openapi.json and /docs are open in development; in production they need an admin's JWT
# unless API_DOCS_PUBLIC=1.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", default=DEBUG)

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# One format for every line (restapi/logformat.py): JSON objects, or readable text.
LOG_FORMAT = log_format()
LOGGING_CONFIG = "restapi.logformat.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"service": {"()": "restapi.logformat.formatter", "name": LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "service"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Through the root handler only (Django's own console handler would print twice);
        # 4xx answers are in the access log, so only server errors are logged here.
        "django": {"handlers": [], "propagate": True},
        "django.request": {"level": "ERROR"},
    },
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Static files (the admin's) are served by the app itself through WhiteNoise;
# `manage.py collectstatic` gathers them (make run and the image do it).
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Production hardening (manage.py check --deploy is clean with DEBUG=0). The service only
# speaks HTTPS, so these cost nothing.
SECURE_SSL_REDIRECT = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# JSON like every other error (the admin's forms get a plain HTML page): restapi/errors.py.
CSRF_FAILURE_VIEW = "restapi.errors.csrf_failure_view"
