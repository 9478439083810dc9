"""The JavaScript client's Presence helper, run by Node (skipped without it)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

MODULE = (
    pathlib.Path(__file__).resolve().parents[1]
    / "django_wsviews/static/django_wsviews/wsviews.js"
)

SCRIPT = """
import { Presence } from %(module)s;
const presence = new Presence("room.a");
const seen = [];
presence.addEventListener("change", () => seen.push([...presence.members.keys()].sort()));
const results = [
  presence.apply({event: "wsviews.presence_state", group: "room.a",
                  members: {"user:1": {connections: {c1: {username: "ada"}}}}}),
  presence.apply({event: "wsviews.presence_diff", group: "room.b",
                  joins: {"user:9": {connections: {}}}, leaves: {}}),
  presence.apply({event: "wsviews.presence_diff", group: "room.a",
                  joins: {"user:2": {connections: {c2: {}}}}, leaves: {}}),
  presence.apply({event: "wsviews.presence_diff", group: "room.a",
                  joins: {}, leaves: {"user:1": {connections: {c1: {}}}}}),
  presence.apply({event: "wsviews.other", group: "room.a"}),
  presence.apply("not an object"),
  presence.apply({event: "wsviews.presence_diff", group: "room.a", joins: [1], leaves: null}),
];
console.log(JSON.stringify({results, seen, last: Object.fromEntries(presence.members)}));
"""


def test_presence_helper_applies_state_and_diffs() -> None:
    """State replaces the members, diffs add and remove them, other messages are ignored."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    completed = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            SCRIPT % {"module": json.dumps(MODULE.as_uri())},
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    output = json.loads(completed.stdout)
    assert output["results"] == [True, False, True, True, False, False, True]
    assert output["seen"] == [["user:1"], ["user:1", "user:2"], ["user:2"], ["user:2"]]
    assert output["last"] == {"user:2": {"connections": {"c2": {}}}}
