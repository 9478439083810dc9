"""
``manage.py runserver`` on uvicorn: HTTP, WebSockets and static files in development.

Django's ``runserver`` is a WSGI server: it serves no WebSockets. This command
keeps its command line (``addrport``, ``--ipv6``, ``--noreload``,
``--skip-checks``; ``--nostatic`` and ``--insecure`` with
``django.contrib.staticfiles``), its system checks, its unapplied-migrations
warning and its autoreloader, and serves the project's ASGI application with
uvicorn instead.

How the pieces fit:

* The application is ``settings.ASGI_APPLICATION`` if set, else
  :func:`django_wsviews.asgi.get_asgi_application`; static files are served
  in front of it (:class:`~django_wsviews.staticfiles.DebugStaticFilesHandler`)
  unless ``--nostatic`` is given.
* The listening socket is bound here, before uvicorn starts, so that a port
  in use is reported in one line and ``runserver 0`` prints the port it got.
* uvicorn refuses WebSocket messages over ``WSVIEWS_MAX_MESSAGE_SIZE`` (or
  ``--ws-max-size``) while it reads them: a compressed message cannot be
  inflated past the library's limit before the library sees it.
* The autoreloader runs :meth:`Command.inner_run` in a thread of a child
  process and ends that process from its main thread when a file changes.
  :meth:`Command.run` stops uvicorn first and waits for it: open WebSockets
  are closed with 1012 (service restart), so clients reconnect to the new
  process, and each view's ``disconnect()`` runs.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import socket
import sys
import threading
from datetime import datetime
from typing import Any

import uvicorn
from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandParser
from django.core.management.commands.runserver import Command as RunserverCommand
from django.db import connections
from django.utils import autoreload

from ... import conf
from ...asgi import project_application
from ...staticfiles import DebugStaticFilesHandler

__all__ = ["Command"]

#: uvicorn's own limit when ``WSVIEWS_MAX_MESSAGE_SIZE`` is None (no limit).
UVICORN_DEFAULT_WS_MAX_SIZE = 16 * 1024 * 1024

#: What a failed bind means, for the errors a developer can do something about.
BIND_ERRORS = {
    errno.EACCES: "you have no permission to listen on that port.",
    errno.EADDRINUSE: "that port is already in use.",
    errno.EADDRNOTAVAIL: "that IP address is not one of this machine's.",
}


def _byte_count(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of bytes")
    return size


class Command(RunserverCommand):
    """Django's ``runserver``, serving the ASGI application with uvicorn."""

    help = (
        "Starts a development server for HTTP and WebSockets (uvicorn), which "
        "also serves static files."
    )

    # Set by Django's handle() from addrport and --ipv6.
    addr: str
    port: str
    use_ipv6: bool
    _raw_ipv6: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self._stop_timeout = 0.0

    def add_arguments(self, parser: CommandParser) -> None:
        """Add Django's options, ``--ws-max-size``, and staticfiles' two."""
        super().add_arguments(parser)
        parser.add_argument(
            "--ws-max-size",
            type=_byte_count,
            dest="ws_max_size",
            metavar="BYTES",
            help=(
                "Refuse WebSocket messages over BYTES, with 1009 (default: "
                "WSVIEWS_MAX_MESSAGE_SIZE). Give the largest max_message_size "
                "of your views if one is larger."
            ),
        )
        if apps.is_installed("django.contrib.staticfiles"):
            parser.add_argument(
                "--nostatic",
                action="store_false",
                dest="use_static_handler",
                help="Do not serve static files at STATIC_URL.",
            )
            parser.add_argument(
                "--insecure",
                action="store_true",
                dest="insecure_serving",
                help="Serve static files even when DEBUG is False.",
            )

    # Running ----------------------------------------------------------------

    def run(self, **options: Any) -> None:
        """Run the server, under the autoreloader unless ``--noreload``; stop it on the way out."""
        try:
            super().run(**options)
        finally:
            # The autoreloader's SystemExit (a file changed), SIGTERM's, or Ctrl-C.
            self.stop_server()

    def inner_run(self, *args: Any, **options: Any) -> None:
        """Check the project, then serve it until stopped."""
        # An error the autoreloader kept for this process (as Django's command).
        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()

        application = self.get_application(options)
        sock = self.bind()
        config = self.get_server_config(application, options)
        server = uvicorn.Server(config)
        self._server, self._server_thread = server, threading.current_thread()
        self.print_banner(sock.getsockname()[1], config.ws_max_size)
        try:
            with sock:  # uvicorn closes it too, if it started
                server.run(sockets=[sock])
        except KeyboardInterrupt:
            # --noreload: uvicorn shut down on Ctrl-C, then raised it again.
            shutdown_message = options.get("shutdown_message", "")
            if shutdown_message:
                self.stdout.write(shutdown_message)
            sys.exit(0)
        except SystemExit:
            # uvicorn exits when the application's lifespan startup fails.
            if server.started:
                raise
        if not server.started:
            self.stderr.write(
                "Error: the ASGI application failed to start (see above)."
                + (" Waiting for a file change." if options["use_reloader"] else "")
            )
            if not options["use_reloader"]:
                sys.exit(1)

    def stop_server(self) -> None:
        """
        Stop uvicorn and wait for it, if it serves in another thread.

        uvicorn closes its WebSockets with 1012 and runs the lifespan shutdown
        (each view's ``disconnect()``). The wait is bounded: after it, the
        process exits and the server's thread with it.
        """
        server, thread = self._server, self._server_thread
        if server is None or thread is None or thread is threading.current_thread():
            return
        server.should_exit = True
        thread.join(self._stop_timeout)

    # Parts ------------------------------------------------------------------

    def get_application(self, options: dict[str, Any]) -> Any:
        """
        Return the ASGI application to serve, with static files in front of it.

        ``settings.ASGI_APPLICATION`` (a dotted path) if set, else
        :func:`django_wsviews.asgi.get_asgi_application`. Static files are
        served when ``django.contrib.staticfiles`` is installed, unless
        ``--nostatic``: when ``DEBUG`` is on, or always with ``--insecure``.
        ``--nostatic`` also stops the handler ``get_asgi_application()``
        puts in front of Django's.
        """
        application = project_application()
        if not apps.is_installed("django.contrib.staticfiles"):
            return application
        if not options.get("use_static_handler", True):
            DebugStaticFilesHandler.enabled = False
            return application
        return DebugStaticFilesHandler(
            application, insecure=options.get("insecure_serving", False)
        )

    def get_ws_max_size(self, options: dict[str, Any]) -> int:
        """
        Return the largest WebSocket message uvicorn reads, in bytes.

        ``--ws-max-size`` if given, else ``WSVIEWS_MAX_MESSAGE_SIZE``; when
        that is None (no limit), uvicorn's default of 16 MiB.
        """
        size: int | None = options.get("ws_max_size")
        if size is None:
            size = conf.settings.WSVIEWS_MAX_MESSAGE_SIZE
        return UVICORN_DEFAULT_WS_MAX_SIZE if size is None else size

    def get_server_config(
        self, application: Any, options: dict[str, Any]
    ) -> uvicorn.Config:
        """Return uvicorn's configuration for ``application``."""
        shutdown_timeout = conf.settings.WSVIEWS_SHUTDOWN_TIMEOUT
        # uvicorn waits for its connections, then runs the lifespan shutdown;
        # each is bounded by shutdown_timeout.
        self._stop_timeout = 2 * shutdown_timeout + 5.0
        # --no-color and --force-color, as for Django's own output.
        use_colors: bool | None = None  # uvicorn asks the terminal
        if options.get("no_color"):
            use_colors = False
        elif options.get("force_color"):
            use_colors = True
        return uvicorn.Config(
            application,
            interface="asgi3",
            lifespan="auto",
            ws_max_size=self.get_ws_max_size(options),
            timeout_graceful_shutdown=math.ceil(shutdown_timeout),
            # Nothing is in front of a development server: X-Forwarded-For and
            # X-Forwarded-Proto are the client's own words (Django reads
            # them if SECURE_PROXY_SSL_HEADER says so).
            proxy_headers=False,
            log_level="info",
            use_colors=use_colors,
        )

    def bind(self) -> socket.socket:
        """
        Return a socket listening on the address and port of the command line.

        When it cannot be bound, write why and end the process with status 1
        (``os._exit``: this may run in the autoreloader's thread).
        """
        family = socket.AF_INET6 if self.use_ipv6 else socket.AF_INET
        try:
            return socket.create_server((self.addr, int(self.port)), family=family)
        except (OSError, OverflowError) as exc:  # OverflowError: a port over 65535
            reason = BIND_ERRORS.get(getattr(exc, "errno", None) or 0, str(exc))
            self.stderr.write(
                f"Error: cannot listen on {self.addr}:{self.port}: {reason}"
            )
            os._exit(1)

    def print_banner(self, port: int, ws_max_size: int) -> None:
        """Write where the server listens, as Django's ``runserver`` does."""
        if self._raw_ipv6:
            addr = f"[{self.addr}]"
        elif self.addr == "0":
            addr = "0.0.0.0"
        else:
            addr = self.addr
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        self.stdout.write(
            f"{datetime.now().strftime('%B %d, %Y - %X')}\n"
            f"Django version {self.get_version()}, using settings "
            f"{settings.SETTINGS_MODULE!r}\n"
            "Starting ASGI/WebSocket development server at "
            f"{self.protocol}://{addr}:{port}/\n"
            f"Served by uvicorn {uvicorn.__version__}; WebSocket messages over "
            f"{ws_max_size} bytes are refused.\n"
            f"Quit the server with {quit_command}."
        )
        if os.environ.get("DJANGO_RUNSERVER_HIDE_WARNING") != "true":
            self.stdout.write(
                self.style.WARNING(
                    "WARNING: this is a development server, not for production. "
                    "In production, run an ASGI server on the project's asgi.py "
                    "(see django-wsviews' documentation on servers)."
                )
            )
        # A file or a pipe buffers stdout: make the address visible now.
        self.stdout.flush()
