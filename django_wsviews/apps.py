"""The Django app configuration of django-wsviews."""

from __future__ import annotations

from django.apps import AppConfig


class WsViewsConfig(AppConfig):
    """Register django-wsviews' system checks."""

    name = "django_wsviews"
    label = "django_wsviews"
    verbose_name = "WebSocket views"

    def ready(self) -> None:
        """Register the system checks."""
        from . import checks  # noqa: F401  (registers on import)
