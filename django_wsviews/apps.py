"""The Django app configuration of django-wsviews."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.checks import Tags, register
from django.db.models.signals import post_delete

from .log import get_logger

logger = get_logger("django_wsviews")


class WsViewsConfig(AppConfig):
    """Register django-wsviews' system checks and signal receivers."""

    name = "django_wsviews"
    label = "django_wsviews"
    verbose_name = "WebSocket views"

    def ready(self) -> None:
        """Register the system checks, and close a deleted user's sockets."""
        from . import checks

        register(checks.check_settings)
        register(checks.check_runserver)
        register(Tags.urls)(checks.check_ws_urlpatterns)
        register(Tags.urls)(checks.check_http_urlpatterns)

        if apps.is_installed("django.contrib.auth"):
            post_delete.connect(
                close_deleted_users_sockets,
                sender=settings.AUTH_USER_MODEL,
                dispatch_uid="django_wsviews.close_deleted_users_sockets",
            )


def close_deleted_users_sockets(sender: Any, instance: Any, **kwargs: Any) -> None:
    """
    Close, with 4401, the sockets of a user who was just deleted, in every process.

    Reaches the connections that joined the user's group (see
    ``WebSocketView.user_group``). A backend that cannot be reached is logged,
    never raised: deleting the user goes on.
    """
    from .exceptions import BroadcastError
    from .groups import close_user_sockets
    from .status import CloseCode

    if instance.pk is None:
        return
    try:
        close_user_sockets(instance.pk, CloseCode.UNAUTHORIZED, "User deleted.")
    except BroadcastError:
        logger.warning(
            "Could not close the sockets of deleted user %s: the group backend "
            "is unreachable.",
            instance.pk,
            exc_info=True,
        )
