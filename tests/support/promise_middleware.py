"""Middleware for the tests that hold the documentation's promises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponseBase


def count_users(get_response: Callable[[HttpRequest], HttpResponseBase]) -> Any:
    """Make a database query on every request: I/O that must not run on the loop."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        request.users = User.objects.count()  # type: ignore[attr-defined]
        return get_response(request)

    return middleware
