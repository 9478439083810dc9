"""
Settings of the end-to-end test project.

The server subprocesses import this module (``DJANGO_SETTINGS_MODULE``); the
pytest process does not. ``E2E_TMP_DIR`` (set by the fixtures) holds the
SQLite database.
"""

from __future__ import annotations

import os
from pathlib import Path

_TMP_DIR = Path(os.environ.get("E2E_TMP_DIR") or Path(__file__).resolve().parent)

SECRET_KEY = "e2e-tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_wsviews",
]

# startproject's default middleware.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.e2e.project.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_TMP_DIR / "e2e.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGIN_REDIRECT_URL = "/hello/"

# urls.py routes EchoView in urlpatterns on purpose (a plain GET gets 426).
SILENCED_SYSTEM_CHECKS = ["django_wsviews.E003"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "OPTIONS": {
            "context_processors": ["django.template.context_processors.request"]
        },
    }
]

# Everything the tests assert on goes to stderr, which the fixtures capture
# to a file: Django's request log ("Not Found: ..."), django_wsviews' own log
# (tracebacks of hook exceptions) and the test views' "e2e" log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "django_wsviews": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "e2e": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}

# The project is an app of its own, for models.py (unmanaged: nothing to migrate).
INSTALLED_APPS += ["tests.e2e.project"]

# The JavaScript client's page (tests/e2e/test_js_client.py) loads
# wsviews.js from the static files, which urls.py serves from the finders.
if "django.contrib.staticfiles" not in INSTALLED_APPS:
    INSTALLED_APPS += ["django.contrib.staticfiles"]
STATIC_URL = "static/"
