"""Unit tests of django_wsviews' runserver command: options, application, uvicorn's settings, stopping."""

from __future__ import annotations

import io
import math
import socket
import threading
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command, get_commands
from django.test import override_settings

from django_wsviews.asgi import WebSocketMiddleware
from django_wsviews.management.commands import runserver
from django_wsviews.management.commands.runserver import Command
from django_wsviews.staticfiles import DebugStaticFilesHandler

WITH_STATICFILES = [*settings.INSTALLED_APPS, "django.contrib.staticfiles"]


async def failing_app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI application whose lifespan startup fails."""
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no"})


def parsed(*args: str) -> dict[str, Any]:
    """Return the options runserver's parser makes of ``args``."""
    parser = Command().create_parser("manage.py", "runserver")
    return vars(parser.parse_args(list(args)))


def command() -> Command:
    """Return a command writing to buffers."""
    return Command(stdout=io.StringIO(), stderr=io.StringIO())


def test_runserver_is_this_command() -> None:
    """With django_wsviews installed (and no staticfiles above it), runserver is ours."""
    assert get_commands()["runserver"] == "django_wsviews"


# Options --------------------------------------------------------------------------


def test_static_options_only_with_staticfiles() -> None:
    """--nostatic and --insecure exist when django.contrib.staticfiles is installed, only then."""
    with pytest.raises(CommandError):
        parsed("--nostatic")
    with override_settings(INSTALLED_APPS=WITH_STATICFILES):
        options = parsed("--nostatic", "--insecure")
        assert options["use_static_handler"] is False
        assert options["insecure_serving"] is True
        assert parsed()["use_static_handler"] is True


@pytest.mark.parametrize("value", ["0", "-1", "1MiB"])
def test_ws_max_size_must_be_a_positive_number_of_bytes(value: str) -> None:
    """--ws-max-size refuses what is not a positive integer."""
    with pytest.raises(CommandError, match="positive number of bytes"):
        parsed(f"--ws-max-size={value}")


@pytest.mark.parametrize(
    ("args", "address"),
    [
        ((), ("127.0.0.1", "8000", False, False)),
        (("8001",), ("127.0.0.1", "8001", False, False)),
        (("0:8001",), ("0", "8001", False, False)),
        (("[::1]:8001",), ("::1", "8001", True, True)),
        (("-6",), ("::1", "8000", True, True)),
        (("localhost:8001", "-6"), ("localhost", "8001", True, False)),
    ],
)
def test_addrport_is_parsed_as_by_django(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], address: tuple[Any, ...]
) -> None:
    """addrport and --ipv6 give the address Django's runserver gives."""
    seen: list[tuple[Any, ...]] = []

    def run(self: Command, **options: Any) -> None:
        seen.append((self.addr, self.port, self.use_ipv6, self._raw_ipv6))

    monkeypatch.setattr(Command, "run", run)
    call_command("runserver", *args)
    assert seen == [address]


def test_bad_addrport_is_refused() -> None:
    """An addrport that is neither a port nor address:port is a CommandError."""
    with pytest.raises(CommandError, match="not a valid port number"):
        call_command("runserver", "localhost:http")


# The application ------------------------------------------------------------------


def test_application_defaults_to_get_asgi_application() -> None:
    """Without ASGI_APPLICATION, django-wsviews' get_asgi_application() is served."""
    assert isinstance(command().get_application(parsed()), WebSocketMiddleware)


@override_settings(ASGI_APPLICATION="tests.test_runserver.failing_app")
def test_application_is_asgi_application_if_set() -> None:
    """ASGI_APPLICATION, a dotted path, names the application served."""
    assert command().get_application(parsed()) is failing_app


@override_settings(ASGI_APPLICATION="tests.no_such_module.application")
def test_asgi_application_that_does_not_import() -> None:
    """An ASGI_APPLICATION that does not import raises ImproperlyConfigured naming the fix."""
    with pytest.raises(ImproperlyConfigured, match="ASGI_APPLICATION") as raised:
        command().get_application(parsed())
    assert "get_asgi_application()" in str(raised.value)


@override_settings(
    INSTALLED_APPS=WITH_STATICFILES,
    ASGI_APPLICATION="tests.test_runserver.failing_app",
)
@pytest.mark.parametrize("insecure", [False, True])
def test_static_files_in_front_of_the_application(insecure: bool) -> None:
    """With staticfiles installed, the static files handler wraps the application."""
    args = ("--insecure",) if insecure else ()
    application = command().get_application(parsed(*args))
    assert isinstance(application, DebugStaticFilesHandler)
    assert application.application is failing_app
    assert application.insecure is insecure


@override_settings(
    INSTALLED_APPS=WITH_STATICFILES,
    ASGI_APPLICATION="tests.test_runserver.failing_app",
)
def test_nostatic_turns_every_static_handler_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--nostatic serves the application bare and turns get_asgi_application()'s handler off too."""
    monkeypatch.setattr(DebugStaticFilesHandler, "enabled", True)  # restored after
    assert command().get_application(parsed("--nostatic")) is failing_app
    assert DebugStaticFilesHandler.enabled is False


# uvicorn's configuration ----------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "args", "expected"),
    [
        (1024 * 1024, (), 1024 * 1024),
        (12345, (), 12345),
        (None, (), runserver.UVICORN_DEFAULT_WS_MAX_SIZE),
        (12345, ("--ws-max-size", "4096"), 4096),
    ],
)
def test_server_message_limit_is_the_librarys(
    setting: int | None, args: tuple[str, ...], expected: int
) -> None:
    """uvicorn's ws_max_size is WSVIEWS_MAX_MESSAGE_SIZE unless --ws-max-size says otherwise."""
    with override_settings(WSVIEWS_MAX_MESSAGE_SIZE=setting):
        config = command().get_server_config(failing_app, parsed(*args))
    assert config.ws_max_size == expected


@override_settings(WSVIEWS_SHUTDOWN_TIMEOUT=2.5)
def test_server_config() -> None:
    """uvicorn serves the application as ASGI 3 with lifespan, trusting no proxy headers."""
    config = command().get_server_config(failing_app, parsed())
    assert config.app is failing_app
    assert config.interface == "asgi3"
    assert config.lifespan == "auto"
    assert config.proxy_headers is False
    assert config.timeout_graceful_shutdown == math.ceil(2.5)


@pytest.mark.parametrize(
    ("args", "use_colors"),
    [((), None), (("--no-color",), False), (("--force-color",), True)],
)
def test_server_colours_follow_djangos(args: tuple[str, ...], use_colors: Any) -> None:
    """--no-color and --force-color reach uvicorn's log; by default it asks the terminal."""
    config = command().get_server_config(failing_app, parsed(*args))
    assert config.use_colors is use_colors


# Binding, the banner, stopping ----------------------------------------------------


def prepared(*args: str) -> Command:
    """Return a command whose handle() has parsed ``args`` (nothing is run)."""
    cmd = command()
    cmd.run = lambda **options: None  # type: ignore[method-assign]
    cmd.handle(**parsed(*args))
    return cmd


def test_bind_listens_on_the_address() -> None:
    """bind() returns a listening socket; port 0 gets a free one."""
    sock = prepared("127.0.0.1:0").bind()
    with sock:
        host, port = sock.getsockname()
        assert host == "127.0.0.1"
        assert port > 0
        with socket.create_connection((host, port), timeout=5):
            pass


def test_bind_reports_a_port_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port in use is one line on stderr and exit status 1."""

    def exit_(status: int) -> None:
        raise SystemExit(status)

    monkeypatch.setattr(runserver.os, "_exit", exit_)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        cmd = prepared(f"127.0.0.1:{port}")
        with pytest.raises(SystemExit) as exited:
            cmd.bind()
    assert exited.value.code == 1
    assert cmd.stderr._out.getvalue() == (  # type: ignore[attr-defined]
        f"Error: cannot listen on 127.0.0.1:{port}: that port is already in use.\n"
    )


@pytest.mark.parametrize(
    ("addrport", "shown"),
    [
        ("127.0.0.1:8001", "http://127.0.0.1:8001/"),
        ("0:8001", "http://0.0.0.0:8001/"),
        ("[::1]:8001", "http://[::1]:8001/"),
    ],
)
def test_banner(addrport: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner names the address as Django's does, the server and its message limit."""
    monkeypatch.delenv("DJANGO_RUNSERVER_HIDE_WARNING", raising=False)
    cmd = prepared(addrport)
    cmd.print_banner(8001, 1048576)
    out = cmd.stdout._out.getvalue()  # type: ignore[attr-defined]
    assert f"Starting ASGI/WebSocket development server at {shown}\n" in out
    assert f"using settings {settings.SETTINGS_MODULE!r}" in out
    assert "WebSocket messages over 1048576 bytes are refused" in out
    assert "WARNING: this is a development server" in out


def test_banner_warning_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """DJANGO_RUNSERVER_HIDE_WARNING=true hides the production warning, as for Django's."""
    monkeypatch.setenv("DJANGO_RUNSERVER_HIDE_WARNING", "true")
    cmd = prepared()
    cmd.print_banner(8000, 1048576)
    assert "WARNING" not in cmd.stdout._out.getvalue()  # type: ignore[attr-defined]


class FakeServer:
    """Stands for uvicorn.Server: serves until should_exit."""

    def __init__(self) -> None:
        self.should_exit = False
        self.stopped = threading.Event()

    def serve(self) -> None:
        while not self.should_exit:
            self.stopped.wait(0.01)
        self.stopped.set()


def test_stop_server_stops_the_reloader_thread() -> None:
    """Leaving run() (a file changed, SIGTERM) stops the server in its thread and waits for it."""
    cmd = command()
    server = FakeServer()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    cmd._server, cmd._server_thread = server, thread  # type: ignore[assignment]
    cmd._stop_timeout = 5.0
    cmd.stop_server()
    assert server.should_exit is True
    assert not thread.is_alive()
    assert server.stopped.is_set()


def test_stop_server_in_the_server_thread_does_nothing() -> None:
    """With --noreload the server ran in this thread and has already stopped: nothing to do."""
    cmd = command()
    server = FakeServer()
    cmd._server, cmd._server_thread = server, threading.current_thread()  # type: ignore[assignment]
    cmd.stop_server()
    assert server.should_exit is False


def test_run_stops_the_server_on_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() stops the server however the autoreloader leaves (its SystemExit here)."""
    calls: list[str] = []

    def reloader(main_func: Any, **options: Any) -> None:
        raise SystemExit(3)  # trigger_reload(): a file changed

    monkeypatch.setattr(runserver.autoreload, "run_with_reloader", reloader)
    monkeypatch.setattr(Command, "stop_server", lambda self: calls.append("stop"))
    cmd = prepared()
    with pytest.raises(SystemExit):
        Command.run(cmd, **parsed())
    assert calls == ["stop"]


@override_settings(ASGI_APPLICATION="tests.test_runserver.failing_app")
def test_failed_startup_without_reloader_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With --noreload, an application whose startup fails ends the command with status 1."""
    monkeypatch.setattr(Command, "check_migrations", lambda self: None)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command(
            "runserver",
            "127.0.0.1:0",
            "--noreload",
            "--skip-checks",
            stdout=out,
            stderr=err,
        )
    assert exited.value.code == 1
    assert "Starting ASGI/WebSocket development server" in out.getvalue()
    assert "the ASGI application failed to start" in err.getvalue()
