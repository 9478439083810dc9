"""Settings for the test suite."""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_wsviews",
    "tests",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.support.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        # A file, not Django's in-memory test database: sqlite ignores close()
        # on in-memory connections, so those that worker threads open would
        # leak (Python 3.13 warns about them).
        "TEST": {
            "NAME": os.path.join(
                tempfile.gettempdir(), f"django-wsviews-tests-{os.getpid()}.sqlite3"
            )
        },
    }
}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": ["django.template.context_processors.request"]
        },
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING_CONFIG = None

# The PostgreSQL group backend LISTENs and NOTIFYs through this alias (no test
# database is created for it); WSVIEWS_TEST_POSTGRES_* point it elsewhere.
from .support.services import postgres_database  # noqa: E402

DATABASES["wsviews_postgres"] = postgres_database()
