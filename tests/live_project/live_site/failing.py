"""
A test that fails on purpose: ``python manage.py test live_site.failing``.

The server echoes "hello"; the test expects something else. The test suite
runs it to show that a failing live-server test fails the run.
"""

from __future__ import annotations

from django_wsviews.testing.live import WebSocketLiveServerTestCase


class WrongEchoTests(WebSocketLiveServerTestCase):
    def test_wrong_echo(self) -> None:
        """Fails: the echo is "hello", not "goodbye"."""
        with self.live_server.ws_sync("/ws/echo/") as ws:
            ws.send("hello")
            echo = ws.recv(timeout=5.0)
        assert echo == "goodbye", f"the echo was {echo!r}"
