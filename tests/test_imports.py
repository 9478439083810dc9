"""Every module of the package imports before Django's settings are configured."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import django_wsviews

REPO_ROOT = Path(__file__).resolve().parent.parent


def _modules() -> list[str]:
    names = ["django_wsviews"]
    for info in pkgutil.walk_packages(django_wsviews.__path__, "django_wsviews."):
        names.append(info.name)
    return sorted(names)


def test_the_package_has_modules_to_check() -> None:
    """The walk finds the entry point and its dependencies (the test below is not vacuous)."""
    modules = _modules()
    assert {"django_wsviews", "django_wsviews.asgi", "django_wsviews.handshake"} <= set(
        modules
    )


@pytest.mark.parametrize("module", _modules())
def test_imports_without_settings(module: str) -> None:
    """``import <module>`` with no DJANGO_SETTINGS_MODULE succeeds, as django.core.asgi does."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
