"""
Settings for the django-wsviews example project: a chat.

For development only: DEBUG is on and the secret key is public. Served by
``manage.py runserver`` (django_wsviews' own, which serves WebSockets), with
SQLite and the in-memory group backend: one process, nothing else to run.
``settings_redis`` is the variant for two processes sharing Redis.

Environment variables, all optional:

``EXAMPLE_DATABASE``
    The SQLite file (``db.sqlite3`` beside ``manage.py`` by default).
``EXAMPLE_NODE_MODULES``
    The ``node_modules`` folder holding htmx for the htmx page
    (``node_modules`` beside ``manage.py`` by default: ``npm install`` there
    fills it, see ``package.json``).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-example-project-do-not-use-in-production"

DEBUG = True

ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Above staticfiles: its runserver serves WebSockets too.
    "django_wsviews",
    "django.contrib.staticfiles",
    "chat",
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

ROOT_URLCONF = "example_project.urls"

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

ASGI_APPLICATION = "example_project.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DATABASE") or BASE_DIR / "db.sqlite3",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:lobby"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# htmx is not part of this repository: `npm install` beside manage.py puts
# it in node_modules, served under static/npm/ (see chat/views.py).
NODE_MODULES = Path(os.environ.get("EXAMPLE_NODE_MODULES") or BASE_DIR / "node_modules")
STATICFILES_DIRS = [("npm", NODE_MODULES)] if NODE_MODULES.is_dir() else []

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The in-memory group backend (the default, named here to be seen): it
# reaches every connection of this one process. settings_redis shares
# groups between processes.
WSVIEWS_BACKEND = "django_wsviews.backends.memory.MemoryBackend"

# A room's messages keep history (chat.broadcasts.log_group): a page that
# reconnects gets what was said meanwhile, or a reset when that is lost
# (this in-memory history is gone when the server restarts).
WSVIEWS_HISTORY = {"chat-log.*": {"MAX_MESSAGES": 100, "MAX_AGE": 24 * 3600}}

# Show django_wsviews' log records (hook exceptions, refused handshakes) on
# the console.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_wsviews": {"handlers": ["console"], "level": "INFO"}},
}
