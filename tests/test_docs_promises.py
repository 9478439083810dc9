"""
The promise list of docs/contributing.rst names tests that exist.

The page's section "What the docs promise, and the test that holds each"
lists each behavioural promise of the documentation beside the tests that
hold it, as ``tests/<module>.py::<Class>::<test>`` node ids. These tests
read that section and fail when a named test is gone or renamed, when a
promise names no test, or when a page of the documentation has no part in
the list, so that the list cannot drift from the suite or the docs.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "contributing.rst"
SECTION = "What the docs promise, and the test that holds each"
#: Pages that make no behavioural promise of their own: the index, the
#: changelog (history), the API reference (generated from docstrings, its
#: settings and check ids are listed under the pages that use them) and
#: this page.
PAGES_WITHOUT_PROMISES = {"index", "changelog", "api", "contributing"}

NODE_ID = re.compile(r"``(tests/[\w/]+\.py(?:::\w+)+)``")


def section_lines(text: str) -> list[str]:
    """Return the lines of the promise section, up to the next section."""
    lines = text.splitlines()
    start = lines.index(SECTION)
    mark = lines[start + 1][0]
    end = len(lines)
    for index in range(start + 2, len(lines) - 1):
        underline = lines[index + 1]
        if (
            lines[index].strip()
            and underline
            and set(underline) == {mark}
            and len(underline) >= len(lines[index])
        ):
            end = index
            break
    return lines[start + 2 : end]


def promises(lines: list[str]) -> list[tuple[str, str]]:
    """Return (promise, definition) pairs of the section's definition lists."""
    pairs: list[tuple[str, str]] = []
    term: str | None = None
    body: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith(" "):
            if term is not None:
                body.append(line.strip())
            continue
        if term is not None and line:  # a heading, prose or the next term
            pairs.append((term, " ".join(body)))
            term = None
        if line and following.startswith("    "):
            term, body = line.strip(), []
    if term is not None:
        pairs.append((term, " ".join(body)))
    return pairs


@functools.cache
def definitions(path: str) -> frozenset[str]:
    """Return ``Class::test`` and ``test`` names a test module defines."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names: set[str] = set()
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, functions):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(names)


def listed() -> list[tuple[str, str]]:
    return promises(section_lines(PAGE.read_text(encoding="utf-8")))


def test_the_section_lists_promises() -> None:
    """The section parses into promises, each with the node ids it names."""
    pairs = listed()
    assert len(pairs) > 100
    ids = [node for _, body in pairs for node in NODE_ID.findall(body)]
    assert len(ids) >= len(pairs)


def test_every_promise_names_a_test() -> None:
    """No promise is listed without a test that holds it."""
    bare = [term for term, body in listed() if not NODE_ID.search(body)]
    assert bare == [], f"promises without a test: {bare}"


def test_every_named_test_exists() -> None:
    """Each node id names a test module, and a test in it, that exist."""
    missing: list[str] = []
    for _, body in listed():
        for node in NODE_ID.findall(body):
            path, _, name = node.partition("::")
            if not (ROOT / path).is_file() or name not in definitions(path):
                missing.append(node)
    assert missing == [], f"named in {PAGE.name} but not in the suite: {missing}"


def test_every_page_has_its_part() -> None:
    """Each page of docs/ that makes promises has a part of the list, by name."""
    text = "\n".join(section_lines(PAGE.read_text(encoding="utf-8")))
    covered = set(re.findall(r":doc:`(\w+)`", text))
    pages = {path.stem for path in (ROOT / "docs").glob("*.rst")}
    assert pages - PAGES_WITHOUT_PROMISES - covered == set(), (
        "pages whose promises are not listed in docs/contributing.rst"
    )


@pytest.mark.parametrize(
    ("node", "exists"),
    [
        ("tests/test_docs_promises.py::test_every_named_test_exists", True),
        ("tests/test_docs_promises.py::test_no_such_test", False),
        ("tests/test_views.py::TestAsView::test_initkwargs_set_on_each_instance", True),
        ("tests/test_views.py::test_initkwargs_set_on_each_instance", False),
    ],
)
def test_node_ids_are_resolved_by_class_and_name(node: str, exists: bool) -> None:
    """The check tells a test that exists from a misspelt or misplaced one."""
    path, _, name = node.partition("::")
    assert (name in definitions(path)) is exists


def test_the_parser_reads_a_definition_list() -> None:
    """Terms become promises, their indented lines the tests; prose ends a list."""
    text = [
        "Views (:doc:`views`)",
        "~~~~~~~~~~~~~~~~~~~~",
        "",
        "A promise",
        "    ``tests/test_a.py::test_one``,",
        "    ``tests/test_a.py::TestB::test_two``",
        "Another, with no test",
        "    (a gap)",
        "",
        "Some prose that is no promise.",
    ]
    pairs = promises(text)
    assert [term for term, _ in pairs] == ["A promise", "Another, with no test"]
    assert NODE_ID.findall(pairs[0][1]) == [
        "tests/test_a.py::test_one",
        "tests/test_a.py::TestB::test_two",
    ]
    assert NODE_ID.findall(pairs[1][1]) == []
