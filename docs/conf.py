"""Sphinx configuration for the django-wsviews documentation."""

import os
import sys
from pathlib import Path

import django

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Autodoc imports django_wsviews from the source tree, with a tiny settings
# module (docs/docs_settings.py) so that importing Django code works.
sys.path[:0] = [str(ROOT), str(DOCS)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docs_settings")
django.setup()

try:
    from django_wsviews import __version__
except ImportError:  # the package is not importable: autodoc reports why
    __version__ = "unknown"

project = "django-wsviews"
author = "The django-wsviews authors"
copyright = "the django-wsviews authors"
release = __version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

pygments_style = "sphinx"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

html_theme = "alabaster"
html_title = f"django-wsviews {release}"
html_theme_options = {
    "description": "WebSocket views for Django",
    "fixed_sidebar": True,
}
