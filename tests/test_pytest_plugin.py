"""Unit tests of django_wsviews.testing.pytest_plugin, run on small projects with pytester."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "django_wsviews.testing.pytest_plugin"

SETTINGS = """
import os

SECRET_KEY = "inner-tests-only"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_wsviews",
]
MIDDLEWARE = []
ROOT_URLCONF = "proj_urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "TEST": {"NAME": os.path.join(os.path.dirname(__file__), "test.sqlite3")},
    }
}
"""

URLS = """
from django.contrib.auth import get_user_model
from django.urls import path

from django_wsviews import WebSocketView, abroadcast


class Echo(WebSocketView):
    async def receive(self, message):
        await self.send(message)


class Fails(WebSocketView):
    async def receive(self, message):
        raise ValueError("the view failed")


class Announces(WebSocketView):
    async def receive(self, message):
        await abroadcast("room.lobby", json={"said": message})
        await self.send("done")


class CountsPlain(WebSocketView):
    def receive(self, message):
        self.send(str(get_user_model().objects.filter(username=message).count()))


class CountsAsync(WebSocketView):
    async def receive(self, message):
        users = get_user_model().objects.filter(username=message)
        await self.send(str(await users.acount()))


urlpatterns = []
ws_urlpatterns = [
    path("echo/", Echo.as_view(), name="echo"),
    path("fails/", Fails.as_view()),
    path("announces/", Announces.as_view()),
    path("count/plain/", CountsPlain.as_view()),
    path("count/async/", CountsAsync.as_view()),
]
"""

INI = """
[pytest]
pythonpath = .
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = -p no:cacheprovider
filterwarnings =
    error
"""


def plugin_args() -> list[str]:
    """Return the arguments that load the plugin: none once its entry point is installed."""
    installed = any(point.value == PLUGIN for point in entry_points(group="pytest11"))
    return [] if installed else ["-p", PLUGIN]


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """Return a pytester holding a small Django project that uses the plugin."""
    pytester.makeini(INI)
    pytester.makepyfile(proj_settings=SETTINGS, proj_urls=URLS)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "proj_settings")
    return pytester


def test_entry_point_declared() -> None:
    """setup.cfg declares the plugin under pytest11, so that pytest loads it by itself."""
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    declared = config["options.entry_points"]["pytest11"].strip()
    assert declared == f"django_wsviews = {PLUGIN}"
    for point in entry_points(group="pytest11"):
        if point.name == "django_wsviews":  # installed: it points at the module
            assert point.value == PLUGIN


def test_plugin_imports_without_settings_or_pytest_django() -> None:
    """The plugin module imports without Django settings, and neither configures them nor imports pytest-django."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        f"import sys, {PLUGIN}\n"
        "from django.conf import settings\n"
        "assert not settings.configured, 'configured'\n"
        "assert 'pytest_django' not in sys.modules, 'pytest_django'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_fixtures_in_a_project(project: pytest.Pytester) -> None:
    """ws_client, broadcasts and databases in async tests work as documented in a project's tests."""
    project.makepyfile(
        test_fixtures="""
        import pytest

        from django_wsviews import groups
        from django_wsviews.testing import BroadcastCapture, WebSocketClient


        async def test_ws_client(ws_client):
            assert isinstance(ws_client, WebSocketClient)
            async with ws_client.connect("echo") as ws:
                await ws.send("hi")
                assert await ws.receive() == "hi"
                await ws.assert_no_message()


        async def test_ws_client_raises_the_view_exception(ws_client):
            async with ws_client.connect("/fails/") as ws:
                await ws.send("x")
                with pytest.raises(ValueError, match="the view failed"):
                    await ws.receive()


        async def test_broadcasts(ws_client, broadcasts):
            assert isinstance(broadcasts, BroadcastCapture)
            async with ws_client.connect("/announces/") as ws:
                await ws.send("hello")
                assert await ws.receive() == "done"
            broadcasts.assert_broadcast("room.lobby", json={"said": "hello"})


        def test_broadcasts_stopped_after_its_test():
            assert groups.publish_observers == []
        """,
        test_database="""
        import pytest
        from django.contrib.auth import get_user_model


        @pytest.mark.django_db(transaction=True)
        async def test_1_hooks_see_the_row(ws_client):
            await get_user_model().objects.acreate(username="ada")
            for path in ("/count/plain/", "/count/async/"):
                async with ws_client.connect(path) as ws:
                    await ws.send("ada")
                    assert await ws.receive() == "1", path


        @pytest.mark.django_db(transaction=True)
        async def test_2_the_row_is_gone():
            assert await get_user_model().objects.acount() == 0
        """,
    )
    result = project.runpytest_subprocess(*plugin_args(), "-v")
    result.assert_outcomes(passed=6)
    # Rows an async test creates under django_db(transaction=True) are seen
    # by plain and async hooks, and gone once the test is over.
    result.stdout.fnmatch_lines(
        ["*test_1_hooks_see_the_row PASSED*", "*test_2_the_row_is_gone PASSED*"]
    )


def test_fixtures_listed(project: pytest.Pytester) -> None:
    """pytest --fixtures lists the plugin's fixtures and the live server's, with their docstrings."""
    result = project.runpytest_subprocess(*plugin_args(), "--fixtures")
    assert result.ret == 0
    listed = result.stdout.str()
    assert "ws_client" in listed
    assert "Return a test client for the project's ASGI application." in listed
    assert "broadcasts" in listed
    assert "ws_live_server" in listed


def test_skips_without_django_settings(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pytest-django but no settings, the fixtures skip the test, as pytest-django's do."""
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    project.makepyfile(
        test_nosettings="""
        def test_client(ws_client):
            raise AssertionError("not reached")


        def test_capture(broadcasts):
            raise AssertionError("not reached")


        def test_plain():
            pass
        """
    )
    result = project.runpytest_subprocess(*plugin_args(), "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*no Django settings*"])


def test_does_nothing_without_pytest_django(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pytest-django the plugin registers no fixture and breaks nothing."""
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    project.makepyfile(
        test_plain="""
        def test_plain():
            pass


        def test_client(ws_client):
            pass
        """
    )
    result = project.runpytest_subprocess(*plugin_args(), "-p", "no:django")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ws_client' not found*"])
