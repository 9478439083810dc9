"""
Fixtures of the end-to-end tests: the test project served by real servers.

``server`` is parametrized over uvicorn, hypercorn, daphne and granian and started
once per test session for each; tests that stop a server start their own
with :func:`fresh_server`. At the end, each shared server is stopped with
SIGTERM and its whole log is checked: no unhandled exception, and exactly
the errors and tracebacks the tests provoked on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .helpers import SERVER_PARAMS, Server, error_lines, unhandled


@pytest.fixture(scope="session", params=SERVER_PARAMS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Return a running server (one per kind for the session)."""
    name = request.param
    instance = Server(name, tmp_path_factory.mktemp(f"{name}-shared"))
    instance.start()
    try:
        yield instance
    finally:
        status = instance.stop()
    log = instance.log()
    # uvicorn re-raises the signal after its graceful shutdown.
    assert status == (-15 if name == "uvicorn" else 0), (
        f"{name} exited with {status}:\n{log}"
    )
    # The only errors are the hook exceptions the tests provoked, each logged
    # once with its traceback.
    assert log.count("Traceback") == instance.expected_tracebacks, log
    assert [
        line
        for line in error_lines(log)
        if "Error in WebSocket view BoomView" not in line
    ] == [], log
    assert len(error_lines(log)) == instance.expected_tracebacks, log
    assert [m for m in unhandled(log) if m != "Traceback"] == [], log


@pytest.fixture
def fresh_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Server]]:
    """Return a factory starting a server of one's own, stopped at teardown if still up."""
    started: list[Server] = []

    def start(name: str, *extra_args: str) -> Server:
        instance = Server(name, tmp_path_factory.mktemp(f"{name}-fresh"), *extra_args)
        instance.start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop_or_kill()
