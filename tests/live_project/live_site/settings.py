"""
Settings of the live-server example project.

The database is SQLite with no ``TEST`` name, so the test database is
Django's default, in memory: the live server serves it from a file.
"""

from __future__ import annotations

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "live-project-tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS: list[str] = []  # the live server allows its own host
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_wsviews",  # above staticfiles: its runserver serves WebSockets
    "django.contrib.staticfiles",
    "live_site",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "live_site.urls"
ASGI_APPLICATION = "live_site.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
