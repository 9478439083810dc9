"""
Settings shared by the two Django projects: what ``django-admin startproject``
writes, minus the comments, with DEBUG off and the hosts the benchmark uses.

Both projects use the same ``INSTALLED_APPS`` and ``MIDDLEWARE``, so any
difference between them comes from the WebSocket stack alone. The database is
an in-memory SQLite one: no request in the benchmark touches it (clients send
no session cookie, so sessions and ``request.user`` stay lazy and anonymous).

``BENCH_LAYER`` (``none``, ``memory``, ``redis`` or ``postgres``, set by the
runner) selects the group layer each project configures (``postgres``:
django-wsviews only, on the database ``BENCH_POSTGRES_*`` describe); echo, handshake and idle workloads run
with ``none``, so no app pays for a layer it doesn't use.
"""

import os

BENCH_LAYER = os.environ.get("BENCH_LAYER", "none")
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BENCH_POSTGRES = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("BENCH_POSTGRES_DB", "postgres"),
    "USER": os.environ.get("BENCH_POSTGRES_USER", "postgres"),
    "HOST": "127.0.0.1",
    "PORT": os.environ.get("BENCH_POSTGRES_PORT", "5432"),
}

SECRET_KEY = "django-insecure-benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
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
            ],
        },
    },
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With DEBUG off Django logs errors nowhere by default; send them to the
# server's log so a failing app shows why in the runner's report.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
