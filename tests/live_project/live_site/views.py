"""The example project's page: who is logged in, and an echo, over WebSockets."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Live server</title></head>
<body>
<p>User: <output id="user"></output></p>
<p>Echo: <output id="echo"></output></p>
<script>
  const base = `ws://${location.host}`;
  const whoami = new WebSocket(`${base}/ws/whoami/`);
  whoami.onmessage = (event) => {
    document.getElementById("user").textContent = event.data || "(anonymous)";
    whoami.close();
  };
  const echo = new WebSocket(`${base}/ws/echo/`);
  echo.onopen = () => echo.send("hello from the browser");
  echo.onmessage = (event) => {
    document.getElementById("echo").textContent = event.data;
    echo.close();
  };
</script>
</body>
</html>
"""


def page(request: HttpRequest) -> HttpResponse:
    """Return the page whose script opens two WebSockets and shows what they say."""
    return HttpResponse(PAGE)
