# Django's test runner runs these: unittest's assertions, not pytest's.
# ruff: noqa: PT009, PT027
"""
Tests of the chat: the pages with Django's test client, the sockets with
django_wsviews' (no server, no browser). Run them with
``.venv/bin/python example_project/manage.py test chat``.
"""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import TestCase
from django.urls import reverse

from django_wsviews import CloseCode, abroadcast
from django_wsviews.exceptions import HandshakeRejected
from django_wsviews.testing import WebSocketClient, WebSocketTestConnection

from .broadcasts import publish_announcement, room_group
from .models import Message

PROTOCOL = ["wsviews.v1"]

Connect = Callable[..., Awaitable[WebSocketTestConnection]]


class PageTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.ada = User.objects.create_user(
            "ada", password="pw-ada-12345", is_staff=True
        )
        cls.bea = User.objects.create_user("bea", password="pw-bea-12345")

    def test_pages_need_a_login(self) -> None:
        """The lobby and the rooms send anonymous visitors to the login page."""
        for url in ["/chat/", "/chat/alpha/", "/chat/alpha/htmx/"]:
            response = self.client.get(url)
            self.assertRedirects(response, f"/accounts/login/?next={url}")

    def test_home_redirects_to_the_lobby(self) -> None:
        """/ is the lobby's address."""
        self.assertRedirects(
            self.client.get("/"), "/chat/", fetch_redirect_response=False
        )

    def test_room_shows_its_last_50_messages(self) -> None:
        """Of 60 messages, the page shows the last 50, oldest first; other rooms' none."""
        Message.objects.bulk_create(
            Message(room="alpha", user=self.ada, text=f"message {n}") for n in range(60)
        )
        Message.objects.create(room="beta", user=self.ada, text="elsewhere")
        self.client.force_login(self.bea)
        response = self.client.get("/chat/alpha/")
        history = [message.text for message in response.context["history"]]
        self.assertEqual(history, [f"message {n}" for n in range(10, 60)])
        self.assertContains(response, 'data-wsviews-route="chat:room"')
        self.assertContains(response, "ws://testserver/ws/chat/alpha/")
        self.assertNotContains(response, "message 9<")
        self.assertNotContains(response, "elsewhere")

    def test_room_names_are_slugs_of_at_most_50_characters(self) -> None:
        """A longer name, or one with other characters, is not a room."""
        self.client.force_login(self.bea)
        self.assertEqual(self.client.get("/chat/" + "a" * 50 + "/").status_code, 200)
        self.assertEqual(self.client.get("/chat/" + "a" * 51 + "/").status_code, 404)
        self.assertEqual(self.client.get("/chat/a.b/").status_code, 404)

    def test_lobby_lists_rooms_and_opens_one_by_name(self) -> None:
        """Rooms with messages are listed; a name typed in is made a slug."""
        Message.objects.create(room="alpha", user=self.ada, text="hi")
        self.client.force_login(self.bea)
        response = self.client.get("/chat/")
        self.assertContains(response, 'href="/chat/alpha/"')
        self.assertRedirects(
            self.client.get("/chat/", {"name": "Tea Time!"}),
            "/chat/tea-time/",
        )

    def test_announce_form_is_for_staff(self) -> None:
        """Only staff see the form, and only staff may post it."""
        self.client.force_login(self.bea)
        self.assertNotContains(self.client.get("/chat/"), 'action="/announce/"')
        response = self.client.post("/announce/", {"text": "hello"})
        self.assertEqual(response.status_code, 403)
        self.client.force_login(self.ada)
        self.assertContains(self.client.get("/chat/"), 'action="/announce/"')
        self.assertEqual(self.client.get("/announce/").status_code, 405)

    def test_signup_creates_a_user_and_logs_in(self) -> None:
        """After signing up, the lobby opens."""
        response = self.client.post(
            reverse("signup"),
            {
                "username": "cy",
                "password1": "a-long-passphrase-42",
                "password2": "a-long-passphrase-42",
            },
        )
        self.assertRedirects(response, "/chat/")
        self.assertEqual(self.client.get("/chat/").context["user"].username, "cy")

    def test_htmx_page_without_htmx_says_how_to_install_it(self) -> None:
        """With no node_modules, the page explains instead of loading scripts that 404."""
        self.client.force_login(self.bea)
        with self.settings(STATICFILES_DIRS=[]):
            response = self.client.get("/chat/alpha/htmx/")
        self.assertContains(response, "npm install --prefix example_project")
        self.assertNotContains(response, "ws-connect")


class SocketTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.ada = User.objects.create_user("ada", is_staff=True)
        cls.bea = User.objects.create_user("bea")

    @contextlib.asynccontextmanager
    async def sockets(self) -> AsyncIterator[Connect]:
        """Yield a function that opens sockets as a user; close them all on exit."""
        async with contextlib.AsyncExitStack() as stack:

            async def connect(
                user: User | None, path: str, **kwargs: Any
            ) -> WebSocketTestConnection:
                client = WebSocketClient()
                if user is not None:
                    await client.aforce_login(user)
                return await stack.enter_async_context(client.connect(path, **kwargs))

            yield connect

    async def receive_event(self, ws: WebSocketTestConnection) -> Any:
        """Return the next JSON message that is not a presence event."""
        while True:
            content = await ws.receive_json()
            if not str(content.get("event", "")).startswith("wsviews.presence_"):
                return content

    async def call(
        self, ws: WebSocketTestConnection, action: str, payload: Any = None
    ) -> Any:
        """Call an action; return its reply."""
        await ws.send_json({"action": action, "id": 1, "payload": payload})
        return await self.receive_event(ws)

    async def test_room_lists_who_is_online(self) -> None:
        """A page gets the room's members on connect, then one join and one leave per user."""
        async with self.sockets() as connect:
            ada = await connect(self.ada, "/ws/chat/alpha/")
            state = await ada.receive_json()
            self.assertEqual(state["event"], "wsviews.presence_state")
            self.assertEqual(list(state["members"]), [f"user:{self.ada.pk}"])
            bea_key = f"user:{self.bea.pk}"
            self.assertEqual(  # ada's own arrival
                list((await ada.receive_json())["joins"]), [f"user:{self.ada.pk}"]
            )
            tabs = [await connect(self.bea, "/ws/chat/alpha/") for _ in range(2)]
            joined = await ada.receive_json()
            self.assertEqual(joined["event"], "wsviews.presence_diff")
            self.assertEqual(list(joined["joins"]), [bea_key])
            connection = next(iter(joined["joins"][bea_key]["connections"].values()))
            self.assertEqual(connection["username"], "bea")
            for tab in tabs:
                await tab.close()
            left = await ada.receive_json()
            self.assertEqual(
                (list(left["joins"]), list(left["leaves"])), ([], [bea_key])
            )
            # Had the second tab sent a join or leave, it would come before this.
            await abroadcast(room_group("alpha"), json={"event": "marker"})
            self.assertEqual(await ada.receive_json(), {"event": "marker"})

    async def test_anonymous_socket_is_closed_with_4401(self) -> None:
        """Logged out, the socket is told to log in, a code the JS client does not retry."""
        async with self.sockets() as connect:
            ws = await connect(None, "/ws/chat/alpha/")
            self.assertEqual(await ws.wait_closed(), CloseCode.UNAUTHORIZED)

    async def test_socket_speaks_the_wire_protocol(self) -> None:
        """The view accepts wsviews.v1, what the JavaScript client offers."""
        async with self.sockets() as connect:
            ws = await connect(self.ada, "/ws/chat/alpha/", subprotocols=PROTOCOL)
            self.assertEqual(ws.subprotocol, "wsviews.v1")

    async def test_post_reaches_the_room_and_no_other(self) -> None:
        """A post is saved, answered with its id, and sent to the room's sockets only."""
        async with self.sockets() as connect:
            ada = await connect(self.ada, "/ws/chat/alpha/")
            bea = await connect(self.bea, "/ws/chat/alpha/")
            other = await connect(self.bea, "/ws/chat/beta/")

            reply = await self.call(ada, "post", {"text": "  hello  "})
            saved = await Message.objects.select_related("user").aget()
            self.assertEqual(reply, {"id": 1, "ok": True, "result": {"id": saved.pk}})
            self.assertEqual(
                (saved.room, saved.user, saved.text), ("alpha", self.ada, "hello")
            )
            event = {
                "event": "message",
                "message": await sync_to_async(saved.as_json)(),
            }
            # Messages are numbered in the room's log: "seq", to resume after.
            seqs = set()
            for ws in (ada, bea):
                received = await self.receive_event(ws)
                seqs.add(received.pop("seq"))
                self.assertEqual(received, event)
            self.assertEqual(len(seqs), 1)
            self.assertRegex(seqs.pop(), r"^[0-9a-f]+:[0-9]+$")

            # Had beta's socket got the post, it would come before this.
            await abroadcast(room_group("beta"), json={"event": "marker"})
            self.assertEqual(await self.receive_event(other), {"event": "marker"})

    async def test_invalid_post_is_an_error_reply(self) -> None:
        """A blank or missing text is refused with "invalid"; the socket stays open."""
        async with self.sockets() as connect:
            ws = await connect(self.ada, "/ws/chat/alpha/")
            for payload in [{"text": "   "}, {}, {"text": "x" * 2001}, None]:
                reply = await self.call(ws, "post", payload)
                self.assertIs(reply["ok"], False, payload)
                self.assertEqual(reply["error"]["code"], "invalid", payload)
            self.assertFalse(await Message.objects.aexists())
            reply = await self.call(ws, "post", {"text": "still here"})
            self.assertIs(reply["ok"], True)

    async def test_typing_reaches_the_others_not_the_typist(self) -> None:
        """The room's other sockets hear who types; the typist's own socket does not."""
        async with self.sockets() as connect:
            ada = await connect(self.ada, "/ws/chat/alpha/")
            bea = await connect(self.bea, "/ws/chat/alpha/")
            await ada.send_json({"action": "typing"})  # a notification: no reply
            self.assertEqual(
                await self.receive_event(bea), {"event": "typing", "user": "ada"}
            )
            await abroadcast(room_group("alpha"), json={"event": "marker"})
            self.assertEqual(await self.receive_event(ada), {"event": "marker"})

    async def test_page_resumes_after_the_last_message_it_saw(self) -> None:
        """A socket that comes back with the last seq it saw gets what was said meanwhile, first."""
        async with self.sockets() as connect:
            ada = await connect(self.ada, "/ws/chat/alpha/")
            bea = await connect(self.bea, "/ws/chat/alpha/")
            await self.call(ada, "post", {"text": "one"})
            seen = await self.receive_event(bea)
            await bea.close()
            for text in ("two", "three"):
                await self.call(ada, "post", {"text": text})
            bea = await connect(self.bea, "/ws/chat/alpha/", last_seq=seen["seq"])
            missed = [await self.receive_event(bea) for _ in range(2)]
            self.assertEqual([m["message"]["text"] for m in missed], ["two", "three"])

    async def test_page_with_a_lost_history_gets_a_reset(self) -> None:
        """A seq the server no longer knows (it restarted) gets a reset: the page reloads."""
        async with self.sockets() as connect:
            bea = await connect(self.bea, "/ws/chat/alpha/", last_seq="0ld:1")
            self.assertEqual(await self.receive_event(bea), {"event": "wsviews.reset"})

    async def test_announcement_reaches_every_room(self) -> None:
        """An announcement reaches the JavaScript and the htmx sockets of every room."""
        async with self.sockets() as connect:
            alpha = await connect(self.bea, "/ws/chat/alpha/")
            beta = await connect(self.bea, "/ws/chat/beta/")
            htmx = await connect(self.bea, "/ws/chat/gamma/htmx/")
            await sync_to_async(publish_announcement)("Tea at five", self.ada)
            event = {"event": "announcement", "text": "Tea at five", "user": "ada"}
            self.assertEqual(await self.receive_event(alpha), event)
            self.assertEqual(await self.receive_event(beta), event)
            html = await htmx.receive()
            self.assertIn('hx-swap-oob="beforeend:#messages"', html)
            self.assertIn("Tea at five", html)

    async def test_announce_view_broadcasts(self) -> None:
        """The staff's form, a normal view, reaches the sockets."""
        async with self.sockets() as connect:
            ws = await connect(self.bea, "/ws/chat/alpha/")
            await sync_to_async(self.async_client.force_login)(self.ada)
            response = await self.async_client.post("/announce/", {"text": "Hello all"})
            self.assertRedirects(response, "/chat/", fetch_redirect_response=False)
            self.assertEqual(
                await self.receive_event(ws),
                {"event": "announcement", "text": "Hello all", "user": "ada"},
            )

    async def test_htmx_form_posts_to_both_pages(self) -> None:
        """A message from the htmx form reaches the htmx and JavaScript sockets of the room."""
        async with self.sockets() as connect:
            htmx = await connect(self.ada, "/ws/chat/alpha/htmx/")
            page = await connect(self.bea, "/ws/chat/alpha/")
            await htmx.send_json(
                {
                    "text": "from htmx",
                    "HEADERS": {"HX-Request": "true", "HX-Trigger": "composer"},
                }
            )
            received = {await htmx.receive(), await htmx.receive()}
            saved = await Message.objects.aget()
            self.assertEqual(saved.text, "from htmx")
            (form,) = [html for html in received if 'id="composer"' in html]
            (message,) = received - {form}
            self.assertIn('value=""', form)
            self.assertIn(f'data-id="{saved.pk}"', message)
            self.assertIn("from htmx", message)
            self.assertEqual(
                (await self.receive_event(page))["message"]["text"], "from htmx"
            )

    async def test_htmx_form_errors_come_back_with_the_form(self) -> None:
        """An empty message saves nothing and returns the form with its error."""
        async with self.sockets() as connect:
            htmx = await connect(self.ada, "/ws/chat/alpha/htmx/")
            await htmx.send_json({"text": "", "HEADERS": {}})
            form = await htmx.receive()
            self.assertIn('id="composer"', form)
            self.assertIn("This field is required.", form)
            self.assertFalse(await Message.objects.aexists())

    async def test_unknown_room_path_is_refused(self) -> None:
        """A path that is not a room is a 404 refusal of the handshake."""
        async with self.sockets() as connect:
            with self.assertRaises(HandshakeRejected) as refused:
                await connect(self.ada, "/ws/chat/a.b/")
            self.assertEqual(refused.exception.status, 404)
