"""The stock reference: a project as `django-admin startproject` makes it (its apps and
middleware, DEBUG off, no connection reuse), plus djoser's user routes on simplejwt.
Served by stock gunicorn (sync, 2 workers, plain HTTP) on its own database of the same
PostgreSQL server."""

import os
from datetime import timedelta

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "bench-reference-secret-key-0123456789abcdefghij")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "djoser",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bench.djoser_app.urls"
WSGI_APPLICATION = "bench.djoser_app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

host, _, port = os.environ.get("POSTGRES_ENDPOINT", "127.0.0.1:5432").rpartition(":")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": host,
        "PORT": port,
        "NAME": os.environ.get("DB_NAME", "restapi_bench_djoser"),
        "USER": os.environ.get("POSTGRES_USERNAME", "postgres"),
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
}
# Only the lifetime differs from simplejwt's defaults: tokens seeded at the start of a run
# must outlive it.
SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(hours=2)}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
