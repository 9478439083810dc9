"""WebSocket views the tests route to."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any

from django_wsviews import CloseCode, JsonWebSocketView, Limits, WebSocketView

#: What views record for the tests to inspect, keyed by a test-chosen name.
events: dict[str, list[Any]] = {}


def record(key: str, value: Any) -> None:
    events.setdefault(key, []).append(value)


class EchoView(WebSocketView):
    async def receive(self, message: str | bytes) -> None:
        await self.send(message)


class InfoView(WebSocketView):
    """Send back what the view knows about its request, as JSON."""

    async def connect(self) -> None:
        await self.accept()
        request = self.request
        await self.send(
            __import__("json").dumps(
                {
                    "args": list(self.args),
                    "kwargs": {k: str(v) for k, v in self.kwargs.items()},
                    "path": request.path,
                    "path_info": request.path_info,
                    "script_name": request.META["SCRIPT_NAME"],
                    "GET": {k: request.GET.getlist(k) for k in request.GET},
                    "cookies": request.COOKIES,
                    "host": request.get_host(),
                    "secure": request.is_secure(),
                    "absolute": request.build_absolute_uri("/x/"),
                    "user_agent": request.META.get("HTTP_USER_AGENT"),
                    "method": request.method,
                }
            )
        )


class JsonEchoView(JsonWebSocketView):
    async def receive_json(self, content: Any) -> None:
        await self.send_json({"echo": content})


class SubprotocolView(WebSocketView):
    subprotocols = ["v2.chat", "v1.chat"]


class RejectView(WebSocketView):
    status = 403

    async def connect(self) -> None:
        await self.reject(self.status)


class SilentView(WebSocketView):
    """connect() neither accepts nor rejects."""

    async def connect(self) -> None:
        return None


class ConnectErrorView(WebSocketView):
    async def connect(self) -> None:
        raise RuntimeError("connect failed")


class ReceiveErrorView(WebSocketView):
    key = "receive-error"

    async def receive(self, message: str | bytes) -> None:
        if message == "boom":
            raise ValueError("boom")
        await self.send(message)

    async def disconnect(self, code: int) -> None:
        record(self.key, code)


class CloseView(WebSocketView):
    async def receive(self, message: str | bytes) -> None:
        assert isinstance(message, str)
        code, _, reason = message.partition(" ")
        await self.close(int(code), reason)


class RecordingView(WebSocketView):
    """Record each hook call under the ``key`` URL argument."""

    @property
    def key(self) -> str:
        return str(self.kwargs["key"])

    async def connect(self) -> None:
        record(self.key, ("connect",))
        await self.accept()

    async def receive(self, message: str | bytes) -> None:
        record(self.key, ("receive", message))
        if message == "wait":
            await asyncio.Event().wait()  # never returns: only a disconnect ends it
        await self.send(message)

    async def disconnect(self, code: int) -> None:
        record(self.key, ("disconnect", code))


class SlowOrderView(WebSocketView):
    """Handle messages that suspend; answers must keep their order."""

    async def receive(self, message: str | bytes) -> None:
        assert isinstance(message, str)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await self.send(message)


class SyncEchoView(WebSocketView):
    """Plain-def hooks, run in the connection's worker thread."""

    @property
    def key(self) -> str:
        return str(self.kwargs["key"])

    def connect(self) -> None:  # type: ignore[override]
        record(self.key, ("connect-thread", threading.get_ident()))
        self.accept()

    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        if message == "sleep":
            time.sleep(0.5)
        self.send(message)
        if message == "close":
            self.close(CloseCode.NORMAL_CLOSURE)

    def disconnect(self, code: int) -> None:  # type: ignore[override]
        record(self.key, ("disconnect", code))


class UserView(WebSocketView):
    """Send the logged-in user's name (or an empty string)."""

    def connect(self) -> None:  # type: ignore[override]
        self.accept()
        user = self.request.user
        self.send(user.get_username() if user.is_authenticated else "")


class SendBeforeAcceptView(WebSocketView):
    async def connect(self) -> None:
        await self.send("too early")


class NotAView:
    pass


async def plain_function(request: Any) -> None:
    return None


#: Four sync hooks must meet here at once; they can only if they run in parallel.
barrier = threading.Barrier(4, timeout=5)


class BarrierView(WebSocketView):
    """A plain-def receive() that waits for three other connections' hooks."""

    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            self.send("serialized")
        else:
            self.send(f"thread {threading.get_ident()}")


class ExceptionHookView(WebSocketView):
    """Override handle_exception() to report the error and keep going."""

    async def receive(self, message: str | bytes) -> None:
        if message == "boom":
            raise KeyError("missing")
        await self.send(message)

    async def handle_exception(self, exc: Exception) -> None:
        await self.send(f"error: {type(exc).__name__}")


class BadSendView(WebSocketView):
    async def receive(self, message: str | bytes) -> None:
        await self.send({"not": "text"})  # type: ignore[arg-type]


class DoubleAcceptView(WebSocketView):
    async def connect(self) -> None:
        await self.accept()
        await self.accept()


class SendAfterCloseView(WebSocketView):
    key = "after-close"

    async def receive(self, message: str | bytes) -> None:
        await self.close()
        try:
            await self.send("late")
        except Exception as exc:
            record(self.key, type(exc).__name__)
            raise


class AcceptHeadersView(WebSocketView):
    async def connect(self) -> None:
        await self.accept(headers=[("x-extra", "1")])


class MiddlewareInfoView(WebSocketView):
    """Report what middleware put on the request."""

    async def connect(self) -> None:
        await self.accept()
        await self.send(
            __import__("json").dumps(
                {
                    "tagged": getattr(self.request, "tagged_by_middleware", False),
                    "async": getattr(self.request, "async_middleware_ran", False),
                    "session": hasattr(self.request, "session"),
                }
            )
        )


class RefusedByMiddlewareView(WebSocketView):
    pass


RefusedByMiddlewareView.refuse = True  # type: ignore[attr-defined]


class AsyncUserView(WebSocketView):
    """Send the user's name, loaded the async way."""

    async def connect(self) -> None:
        await self.accept()
        user = await self.request.auser()  # type: ignore[attr-defined]
        await self.send(user.get_username() if user.is_authenticated else "")


class OpenOriginView(WebSocketView):
    check_origin = False


class PartnerOriginView(WebSocketView):
    allowed_origins = ["https://partner.example"]


class QueryView(WebSocketView):
    """A plain-def view that queries the database on each message."""

    def receive(self, message: str | bytes) -> None:  # type: ignore[override]
        from django.contrib.auth.models import User

        self.send(str(User.objects.count()))


# Issue: secure by default ----------------------------------------------------

from django_wsviews.mixins import (  # noqa: E402
    LoginRequiredMixin,
    PermissionRequiredMixin,
    UserPassesTestMixin,
)
from django_wsviews.tokens import TokenAuthMixin  # noqa: E402


class NameView(WebSocketView):
    """Send the (already loaded) user's name on connect."""

    async def connect(self) -> None:
        await self.accept()
        user = self.request.user  # type: ignore[attr-defined]
        await self.send(user.get_username() if user.is_authenticated else "")


class LoginRequiredView(LoginRequiredMixin, NameView):
    pass


class LoginRequiredCloseView(LoginRequiredMixin, NameView):
    close_on_denial = True
    permission_denied_message = "Log in first."


class PermissionView(PermissionRequiredMixin, NameView):
    permission_required = "auth.view_user"
    close_on_denial = True


class MisconfiguredPermissionView(PermissionRequiredMixin, NameView):
    pass


class StaffOnlyView(UserPassesTestMixin, NameView):
    def test_func(self) -> bool:
        return bool(self.request.user.is_staff)  # type: ignore[attr-defined]


class TokenView(TokenAuthMixin, LoginRequiredMixin, NameView):
    pass


class QueryTokenView(TokenAuthMixin, LoginRequiredMixin, NameView):
    token_query_parameter = "token"


class SmallMessagesView(EchoView):
    limits = Limits(max_message_size=8)


class RateLimitedView(EchoView):
    limits = Limits(rate="3/h")


class StaffUnlimitedView(RateLimitedView):
    """The rate limit of RateLimitedView, lifted for staff by get_limits()."""

    def get_limits(self) -> Limits:
        limits = super().get_limits()
        user = self.request.user
        if user.is_staff:
            return dataclasses.replace(limits, rate=None)
        return limits


class LenientRateView(EchoView):
    limits = Limits(rate=(2, 3600))

    async def handle_rate_limit_exceeded(self, message: str | bytes) -> None:
        await self.send("slow down")


class IdleView(EchoView):
    limits = Limits(idle_timeout=0.05)


class RecheckEachMessageView(EchoView):
    limits = Limits(session_recheck_interval=0)


class RecheckPeriodicallyView(EchoView):
    limits = Limits(session_recheck_interval=0.02)


class GreedyView(WebSocketView):
    """Send many frames in a loop that never suspends by itself."""

    async def receive(self, message: str | bytes) -> None:
        sent = 0
        try:
            for _ in range(100_000):
                await self.send("x")
                sent += 1
        finally:
            record("greedy", sent)


class PerUserLimitView(LoginRequiredMixin, NameView):
    limits = Limits(max_connections_per_user=2)


class JsonTypesView(JsonWebSocketView):
    """On connect, send_json() what DjangoJSONEncoder encodes and json.dumps does not."""

    async def connect(self) -> None:
        import datetime
        import decimal
        import uuid

        from django.utils.translation import gettext_lazy

        await self.accept()
        await self.send_json(
            {
                "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
                "amount": decimal.Decimal("1.10"),
                "id": uuid.UUID(int=1),
                "label": gettext_lazy("lazy"),
            }
        )


class CodecView(JsonWebSocketView):
    """A JSON view with a codec of its own: messages are ``key=value`` text."""

    def decode_json(self, text: str) -> Any:
        key, sep, value = text.partition("=")
        if not sep:
            raise ValueError("not key=value")
        return {key: value}

    def encode_json(self, content: Any) -> str:
        return ";".join(f"{key}={value}" for key, value in sorted(content.items()))

    async def receive_json(self, content: Any) -> None:
        await self.send_json({**content, "seen": "yes"})
