"""Models of the end-to-end test project: PostgreSQL's own tables, nothing to migrate."""

from __future__ import annotations

from django.db import models


class Backend(models.Model):
    """
    A row of ``pg_stat_activity``: one connection to the PostgreSQL server.

    Unmanaged and built into every PostgreSQL server, so that views can use
    the async ORM on any server the tests start, with no migration.
    """

    pid = models.IntegerField(primary_key=True)
    application_name = models.TextField()

    class Meta:
        managed = False
        db_table = "pg_stat_activity"

    def __str__(self) -> str:
        return f"PostgreSQL backend {self.pid}"
