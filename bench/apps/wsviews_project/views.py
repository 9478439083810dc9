"""The project's views: a tiny HTTP view and the WebSocket views the benchmark drives."""

from django.http import HttpResponse

from django_wsviews import WebSocketView

try:
    from django_wsviews import abroadcast
except ImportError:
    try:
        from django_wsviews.groups import abroadcast
    except ImportError:  # no groups API yet: the runner skips the broadcast rows
        abroadcast = None


async def hello(request):
    """The HTTP workload's view (async, so neither stack adds a thread hop)."""
    return HttpResponse("Hello, world")


class EchoView(WebSocketView):
    async def receive(self, message):
        await self.send(message)


class GroupView(WebSocketView):
    # Joined on accept; the default receive_group() sends each message on.
    group_names = ["bench"]

    async def receive(self, message):
        if isinstance(message, str) and message.startswith("broadcast"):
            await abroadcast("bench", message)
