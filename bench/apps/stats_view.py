"""``GET /bench/stats/`` for the two Django projects (see ``bench/apps/stats.py``)."""

from django.http import HttpResponse

from bench.apps.stats import snapshot_json


async def stats(request):
    """Async, so the task count is the event loop's, read on the loop itself."""
    return HttpResponse(snapshot_json(), content_type="application/json")
