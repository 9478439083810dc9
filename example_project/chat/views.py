"""The chat's pages: lobby, rooms, the staff's announcements, sign-up."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from django_wsviews import BroadcastError, last_seq

from .broadcasts import log_group, publish_announcement, room_group
from .forms import AnnounceForm, MessageForm, RoomForm
from .models import Message

#: Messages a room's page shows when it loads.
HISTORY = 50

#: htmx and its ws extension, as `npm install` beside manage.py puts them
#: (settings.py serves node_modules under static/npm/).
HTMX_SCRIPTS = ("npm/htmx.org/dist/htmx.min.js", "npm/htmx-ext-ws/dist/ws.min.js")


def last_messages(room: str, count: int = HISTORY) -> list[Message]:
    """Return the last ``count`` messages of ``room``, oldest first."""
    latest = (
        Message.objects.filter(room=room)
        .select_related("user")
        .order_by("-created", "-pk")[:count]
    )
    return list(reversed(latest))


@login_required
def lobby(request: HttpRequest) -> HttpResponse:
    """List the rooms, latest activity first; open one by name."""
    form = RoomForm(request.GET or None)
    if form.is_valid():
        return redirect("chat:room", room=form.cleaned_data["name"])
    rooms = (
        Message.objects.values("room")
        .annotate(messages=Count("pk"), last=Max("created"))
        .order_by("-last")[:20]
    )
    return render(
        request,
        "chat/lobby.html",
        {"form": form, "rooms": rooms, "announce_form": AnnounceForm()},
    )


@login_required
def room(request: HttpRequest, room: str) -> HttpResponse:
    """Show a room with its last messages; its script connects the socket."""
    return render(
        request,
        "chat/room.html",
        {
            # Read before the messages: the page's first connection resumes
            # from there, so nothing said meanwhile is missed (a message both
            # shown and replayed is shown once: the page drops it by its id).
            "last_seq": last_seq(log_group(room)),
            "room": room,
            "history": last_messages(room),
            "group": room_group(room),
        },
    )


@login_required
def htmx_room(request: HttpRequest, room: str) -> HttpResponse:
    """Show a room as the htmx page: the same room, no JavaScript of ours."""
    return render(
        request,
        "chat/htmx_room.html",
        {
            "room": room,
            "history": last_messages(room),
            "form": MessageForm(),
            "htmx_scripts": HTMX_SCRIPTS,
            "htmx_installed": all(finders.find(path) for path in HTMX_SCRIPTS),
        },
    )


@require_POST
@login_required
def announce(request: HttpRequest) -> HttpResponse:
    """
    Broadcast an announcement to every room: a normal view, no socket needed.

    Staff only.
    """
    if not request.user.is_staff:
        raise PermissionDenied("Only staff may announce.")
    form = AnnounceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "An announcement needs some text.")
    else:
        try:
            publish_announcement(form.cleaned_data["text"], request.user)
        except BroadcastError:
            # The group backend (Redis) is unreachable: nothing was sent.
            messages.error(request, "Could not reach the rooms; try again.")
        else:
            messages.success(request, "Announced in every room.")
    return redirect("chat:lobby")


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and log in with it."""
    form = UserCreationForm(request.POST or None)
    if form.is_valid():
        login(request, form.save())
        return redirect("chat:lobby")
    return render(request, "registration/signup.html", {"form": form})
