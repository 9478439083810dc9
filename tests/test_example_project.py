"""
The example project's own tests pass, and its models match its migrations.

The example is a Django project of its own (its settings, its database), so
its tests (example_project/chat/tests.py: the pages with Django's client,
the sockets with django_wsviews.testing.WebSocketClient) run under Django's
test runner in a subprocess, as a user of the example runs them. Its
browser tests are tests/e2e/test_example_chat.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MANAGE = REPO_ROOT / "example_project" / "manage.py"

#: Seconds the example's whole test run may take.
TIMEOUT = 300


def manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the example's manage.py (bounded), warnings as errors, on a database in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # Not the example's own db.sqlite3, which even a check would create.
    env["EXAMPLE_DATABASE"] = str(tmp_path / "db.sqlite3")
    return subprocess.run(
        [sys.executable, "-W", "error", str(MANAGE), *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_example_projects_tests_pass(tmp_path: Path) -> None:
    """manage.py test chat: every test of the example passes."""
    result = manage(tmp_path, "test", "chat", "--no-input", "-v", "2")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Ran 0 tests" not in output, output


def test_example_projects_migrations_are_complete(tmp_path: Path) -> None:
    """makemigrations --check: the models have no change without its migration."""
    result = manage(tmp_path, "makemigrations", "--check", "--dry-run", "chat")
    assert result.returncode == 0, result.stdout + result.stderr
