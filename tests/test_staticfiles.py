"""Unit tests of django_wsviews.staticfiles: static files served in development by the ASGI entry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from django_wsviews.asgi import get_asgi_application
from django_wsviews.staticfiles import DebugStaticFilesHandler

WITH_STATICFILES = [*settings.INSTALLED_APPS, "django.contrib.staticfiles"]
CONTENT = b"a static file\n"


class Recorder:
    """An inner ASGI app that records the scopes it is given."""

    def __init__(self) -> None:
        self.scopes: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)


@pytest.fixture
def static_dir(tmp_path: Path) -> Iterator[Path]:
    """Install staticfiles with DEBUG on and a folder holding ``hello.txt``."""
    (tmp_path / "hello.txt").write_bytes(CONTENT)
    with override_settings(
        INSTALLED_APPS=WITH_STATICFILES,
        STATIC_URL="/static/",
        STATICFILES_DIRS=[str(tmp_path)],
        DEBUG=True,
    ):
        yield tmp_path


def http_scope(path: str) -> dict[str, Any]:
    """Return the scope of a GET of ``path``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def get(app: Any, path: str) -> tuple[int | None, bytes]:
    """GET ``path`` from ``app``; return the status (None if it sent nothing) and body."""
    requests = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays until the app is done
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(http_scope(path), receive, send), 5)
    if not sent:
        return None, b""
    assert sent[0]["type"] == "http.response.start"
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_get_asgi_application_serves_static_files_in_debug(
    static_dir: Path,
) -> None:
    """With DEBUG and staticfiles, the project's ASGI application serves STATIC_URL from the finders."""
    app = get_asgi_application()
    assert await get(app, "/static/hello.txt") == (200, CONTENT)
    status, _ = await get(app, "/static/missing.txt")
    assert status == 404


async def test_other_paths_go_to_the_inner_app(static_dir: Path) -> None:
    """A path outside STATIC_URL is the wrapped application's, untouched."""
    inner = Recorder()
    scope = http_scope("/staticky/hello.txt")
    await DebugStaticFilesHandler(inner)(scope, None, None)  # type: ignore[arg-type]
    assert inner.scopes == [scope]
    assert inner.scopes[0] is scope


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_other_scope_types_go_to_the_inner_app(
    static_dir: Path, kind: str
) -> None:
    """A WebSocket or lifespan scope is handed on, even under STATIC_URL."""
    inner = Recorder()
    scope = {**http_scope("/static/hello.txt"), "type": kind}
    await DebugStaticFilesHandler(inner)(scope, None, None)  # type: ignore[arg-type]
    assert inner.scopes == [scope]


async def test_debug_off_serves_nothing(static_dir: Path) -> None:
    """With DEBUG off, a static path goes to the inner app (production serves collected files)."""
    inner = Recorder()
    with override_settings(DEBUG=False):
        assert await get(DebugStaticFilesHandler(inner), "/static/hello.txt") == (
            None,
            b"",
        )
    assert [s["path"] for s in inner.scopes] == ["/static/hello.txt"]


async def test_insecure_serves_with_debug_off(static_dir: Path) -> None:
    """insecure=True (runserver --insecure) serves with DEBUG off."""
    handler = DebugStaticFilesHandler(Recorder(), insecure=True)
    with override_settings(DEBUG=False):
        assert await get(handler, "/static/hello.txt") == (200, CONTENT)


async def test_serves_nothing_without_staticfiles(tmp_path: Path) -> None:
    """Without django.contrib.staticfiles installed, nothing is served, DEBUG or not."""
    (tmp_path / "hello.txt").write_bytes(CONTENT)
    inner = Recorder()
    with override_settings(
        STATIC_URL="/static/", STATICFILES_DIRS=[str(tmp_path)], DEBUG=True
    ):
        await get(DebugStaticFilesHandler(inner, insecure=True), "/static/hello.txt")
    assert len(inner.scopes) == 1


async def test_disabled_serves_nothing(
    static_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """enabled = False (runserver --nostatic) stops every handler, insecure ones too."""
    monkeypatch.setattr(DebugStaticFilesHandler, "enabled", False)
    inner = Recorder()
    await get(DebugStaticFilesHandler(inner, insecure=True), "/static/hello.txt")
    assert len(inner.scopes) == 1


async def test_static_url_with_a_host_is_not_served(static_dir: Path) -> None:
    """A STATIC_URL on another host (a CDN) is not this server's to serve."""
    inner = Recorder()
    with override_settings(STATIC_URL="https://cdn.example.com/static/"):
        await get(DebugStaticFilesHandler(inner), "/static/hello.txt")
    assert len(inner.scopes) == 1


async def test_static_url_is_read_per_request(static_dir: Path) -> None:
    """A STATIC_URL changed after the handler was made is the one served."""
    inner = Recorder()
    handler = DebugStaticFilesHandler(inner)
    assert await get(handler, "/static/hello.txt") == (200, CONTENT)
    with override_settings(STATIC_URL="/assets/"):
        assert await get(handler, "/assets/hello.txt") == (200, CONTENT)
        await get(handler, "/static/hello.txt")
    assert [s["path"] for s in inner.scopes] == ["/static/hello.txt"]
