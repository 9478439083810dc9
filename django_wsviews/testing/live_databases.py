"""
A live server's in-memory SQLite test databases, served from files while it runs.

An in-memory SQLite test database (Django's default for SQLite) cannot be
opened safely from the server's many threads: SQLite locks a shared in-memory
database by table, failing instead of waiting, and Django never closes
in-memory connections. While the server runs, such a database is copied to a
file in a temporary directory and every connection opens that file; the
in-memory database comes back, as it was, when the server stops. PostgreSQL,
MySQL and file-backed SQLite test databases are used as they are.

The failure policy: :meth:`FileBackedDatabases.swap` raises
ImproperlyConfigured, before copying anything, for a database inside a
transaction (the server would not see the test's data);
:meth:`FileBackedDatabases.restore` puts the in-memory databases' names back
and removes the files even when closing the files' connections fails.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

__all__ = ["FileBackedDatabases"]

#: Seconds a hand-over to asgiref's process-wide thread may take.
HANDOVER_TIMEOUT = 5.0


class FileBackedDatabases:
    """
    Serve the in-memory SQLite test databases from files, then bring them back.

    Each in-memory SQLite alias is copied (SQLite's backup API) to a file in a
    temporary directory, and its ``NAME`` points there: connections opened
    from now on, the server's, open the file. The threads where a test's own
    code queries the database, this one and asgiref's process-wide thread
    (where an async test's ORM calls run under pytest-asyncio), get a fresh
    connection to the file; their in-memory connection is kept aside, and
    with it the in-memory database, until :meth:`restore`.
    """

    def __init__(self) -> None:
        self.directory: Path | None = None
        #: alias -> the NAME to restore.
        self.names: dict[str, str] = {}
        #: (thread id, alias) -> the connection set aside.
        self.kept: dict[tuple[int, str], Any] = {}

    def swap(self) -> None:
        """Copy every in-memory SQLite test database to a file, and use the files."""
        aliases = [
            conn.alias
            for conn in connections.all()
            if conn.vendor == "sqlite" and cast(Any, conn).is_in_memory_db()
        ]
        for alias in aliases:
            if connections[alias].in_atomic_block:
                raise ImproperlyConfigured(
                    f"The live server cannot copy the in-memory test database "
                    f"{alias!r} inside a transaction: the server would not see the "
                    "test's data. Use WebSocketLiveServerTestCase (a "
                    "TransactionTestCase), or with pytest the ws_live_server "
                    "fixture or django_db(transaction=True), not TestCase or "
                    "django_db."
                )
        if not aliases:
            return
        self.directory = Path(tempfile.mkdtemp(prefix="django-wsviews-live-"))
        files = {}
        for alias in aliases:
            conn = connections[alias]
            conn.ensure_connection()
            files[alias] = self.directory / f"{alias}.sqlite3"
            target = sqlite3.connect(files[alias])
            try:
                conn.connection.backup(target)
            finally:
                target.close()
        for alias, path in files.items():
            self.names[alias] = connections[alias].settings_dict["NAME"]
            self._set_name(alias, str(path))
        self._in_test_threads(self._use_files)

    def restore(self) -> None:
        """Close the files' connections, bring the in-memory databases back, remove the files."""
        try:
            if self.names:
                self._in_test_threads(self._close_files)
        finally:
            for alias, name in self.names.items():
                self._set_name(alias, name)
            self.names = {}
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None

    # In each test thread ----------------------------------------------------

    def _use_files(self) -> None:
        ident = threading.get_ident()
        for alias in self.names:
            kept = connections[alias]
            fresh = connections.create_connection(alias)
            # TransactionTestCase.serialized_rollback reads it from the connection.
            contents = getattr(kept, "_test_serialized_contents", None)
            if contents is not None:
                setattr(fresh, "_test_serialized_contents", contents)  # noqa: B010
            self.kept[ident, alias] = kept
            connections[alias] = fresh

    def _close_files(self) -> None:
        ident = threading.get_ident()
        for alias in self.names:
            # A file connection: this thread's, or one it opened meanwhile.
            connections[alias].close()
            kept = self.kept.pop((ident, alias), None)
            if kept is not None:
                connections[alias] = kept

    # Helpers ------------------------------------------------------------------

    @staticmethod
    def _set_name(alias: str, name: str) -> None:
        # As Django's create_test_db() does: the connections' settings, and settings.
        connections.settings[alias]["NAME"] = name
        settings.DATABASES[alias]["NAME"] = name

    @staticmethod
    def _in_test_threads(function: Callable[[], None]) -> None:
        """Run ``function`` here, then in asgiref's process-wide thread if it runs."""
        function()
        executor = SyncToAsync.single_thread_executor
        # A thread it has not started has no connection: do not start it.
        if getattr(executor, "_threads", True):
            executor.submit(function).result(HANDOVER_TIMEOUT)
