"""The minimal Django settings that let autodoc import django_wsviews."""

SECRET_KEY = "docs"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_wsviews",
]
ROOT_URLCONF = "docs_settings"
urlpatterns: list[object] = []
USE_TZ = True
