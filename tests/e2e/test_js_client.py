"""
End-to-end: the JavaScript client (static/django_wsviews/wsviews.js) in a real browser.

Chromium (the system's, driven by Playwright; never a browser Playwright
downloads) opens a page of the test project served by uvicorn. The page
loads the client as docs/javascript.rst says, through ``{% wsviews_js %}``'s
import map and ``{% static %}``, the static file being found by Django's
staticfiles finders. The tests drive the client with ``page.evaluate``;
every wait in the page is bounded by ``WAIT_MS`` (``nextEvent()`` and the
client's own timeouts), so no evaluation can hang.

Calls and replies are served by ``JsProtocolView``, a hand-written stand-in
that speaks docs/protocol.rst without ``django_wsviews.actions``.

Skipped when Chromium or Playwright is missing, unless
``WSVIEWS_REQUIRE_SERVICES=1``, where that fails the tests instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import REPO_ROOT, Server, assert_clean, free_port
from .test_browser import CHROMIUM_ARGS, LAUNCH_TIMEOUT, chromium  # noqa: F401

STATIC_DIR = REPO_ROOT / "django_wsviews" / "static" / "django_wsviews"

#: Milliseconds any wait inside the page may take.
WAIT_MS = 5000

#: What every script run() evaluates sees: WAIT_MS, and PLAIN, the options
#: for EchoView, which lists no subprotocol (a browser fails a handshake that
#: offered subprotocols and got none back, so the client offers none to it).
PRELUDE = f"const WAIT_MS = {WAIT_MS}; const PLAIN = {{ protocols: [] }};"


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:  # noqa: F811
    """Return a headless Chromium for the module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            timeout=LAUNCH_TIMEOUT * 1000,
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def js_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Return uvicorn serving the test project; its log must stay clean."""
    server = Server("uvicorn", tmp_path_factory.mktemp("uvicorn-js-client"))
    server.start()
    try:
        yield server
    finally:
        server.stop_or_kill()
    assert_clean(server.log())


def open_page(browser: Any, server: Server) -> Any:
    """Open the client's page on ``server``; return it once ``window.wsviews`` is there."""
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"http://127.0.0.1:{server.port}/js-client/")
    page.wait_for_function("() => window.wsviews !== undefined")
    page.errors = errors
    return page


@pytest.fixture
def page(browser: Any, js_server: Server) -> Iterator[Any]:
    """Return a fresh page on the shared server; no uncaught error may happen in it."""
    instance = open_page(browser, js_server)
    try:
        yield instance
        assert instance.errors == []
    finally:
        instance.close()


def run(page: Any, script: str, arg: Any = None) -> Any:
    """Evaluate ``script`` (a function of one argument) in the page, with WAIT_MS defined."""
    return page.evaluate(f"(arg) => {{ {PRELUDE} return ({script})(arg); }}", arg)


def refused_url() -> str:
    """Return a ws:// URL on a loopback port nothing listens on (refused at once)."""
    return f"ws://127.0.0.1:{free_port()}/ws/nowhere/"


# Loading -----------------------------------------------------------------------


def test_static_files_are_served_from_the_finders(js_server: Server) -> None:
    """{% static %} URLs of wsviews.js and wsviews.d.ts are found by the staticfiles finders."""
    for name in ("wsviews.js", "wsviews.d.ts"):
        status, headers, body = js_server.http_get(f"/static/django_wsviews/{name}")
        assert status == 200, name
        assert body == (STATIC_DIR / name).read_bytes()
    _, headers, _ = js_server.http_get("/static/django_wsviews/wsviews.js")
    # A module script must come with a JavaScript MIME type.
    assert headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )


def test_page_imports_the_module_by_its_mapped_name(page: Any) -> None:
    """{% wsviews_js %}'s import map makes import ... from "wsviews" load the client."""
    names = run(page, "async () => Object.keys(wsviews).sort()")
    declared = set(
        re.findall(
            r"^export (?:const|class|function) (\w+)",
            (STATIC_DIR / "wsviews.d.ts").read_text(),
            re.MULTILINE,
        )
    )
    # The declarations and the module export the same names.
    assert set(names) == declared
    assert "WsClient" in names


# Connecting and echo ------------------------------------------------------------


def test_connect_send_and_echo(page: Any, js_server: Server) -> None:
    """A relative URL connects; text and JSON come back; close() ends for good."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/echo/", PLAIN);
            const log = record(client);
            const first = client.state;
            await nextEvent(client, "open", WAIT_MS);
            const opened = client.state;
            client.send("hello");
            client.sendJSON({ n: 1, text: "é" });
            await nextEvent(client, "message", WAIT_MS);
            await nextEvent(client, "message", WAIT_MS);
            client.close();
            const closing = client.state;
            await nextEvent(client, "close", WAIT_MS);
            return { url: client.url, first, opened, closing, log };
        }""",
    )
    assert result["url"] == f"ws://127.0.0.1:{js_server.port}/ws/echo/"
    assert (result["first"], result["opened"], result["closing"]) == (
        "connecting",
        "open",
        "closed",
    )
    assert result["log"] == [
        # EchoView lists no subprotocol: the one offered is declined.
        {"type": "open", "state": "open", "reconnected": False, "protocol": ""},
        {"type": "message", "state": "open", "json": None, "data": "hello"},
        {
            "type": "message",
            "state": "open",
            "json": {"n": 1, "text": "é"},
            "data": '{"n":1,"text":"é"}',
        },
        {"type": "close", "state": "closed", "code": 1000, "willReconnect": False},
    ]


def test_non_json_text_has_undefined_json(page: Any) -> None:
    """A text frame that is not JSON has event.json undefined; JSON null is null."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/echo/", PLAIN);
            await nextEvent(client, "open", WAIT_MS);
            const seen = [];
            for (const text of ["not json", "null", "[1]"]) {
                client.send(text);
                const event = await nextEvent(client, "message", WAIT_MS);
                seen.push({ undefined: event.json === undefined, json: event.json ?? null });
            }
            client.close();
            return seen;
        }""",
    )
    assert result == [
        {"undefined": True, "json": None},
        {"undefined": False, "json": None},
        {"undefined": False, "json": [1]},
    ]


def test_for_route_reads_the_url_ws_route_wrote(page: Any, js_server: Server) -> None:
    """WsClient.forRoute() connects to the URL {% ws_route %} computed; an unknown name throws."""
    result = run(
        page,
        """async () => {
            const client = wsviews.WsClient.forRoute("js-protocol", {
                protocols: [wsviews.PROTOCOL],
            });
            await nextEvent(client, "open", WAIT_MS);
            const protocol = client.protocol;
            client.close();
            let missing;
            try { wsviews.WsClient.forRoute("nope"); } catch (error) { missing = error.message; }
            return { url: client.url, protocol, missing };
        }""",
    )
    assert result["url"] == f"ws://127.0.0.1:{js_server.port}/ws/js/protocol/"
    assert result["protocol"] == "wsviews.v1"
    assert '{% ws_route "nope" ... %}' in result["missing"]


def test_misuse_is_refused_clearly(page: Any) -> None:
    """Unknown options, non-ws schemes, non-data sends and bad close codes throw TypeError/RangeError."""
    result = run(
        page,
        """async () => {
            const thrown = (fn) => { try { fn(); return null; } catch (e) { return `${e.name}: ${e.message}`; } };
            const client = new wsviews.WsClient("/ws/echo/", PLAIN);
            await nextEvent(client, "open", WAIT_MS);
            const result = {
                option: thrown(() => new wsviews.WsClient("/ws/echo/", { retries: 3 })),
                scheme: thrown(() => new wsviews.WsClient("ftp://example.com/")),
                protocols: thrown(() => new wsviews.WsClient("/ws/echo/", { protocols: ["a b"] })),
                object: thrown(() => client.send({ a: 1 })),
                code: thrown(() => client.close(1011)),
                action: await outcome(client.call("")),
            };
            client.close();
            return result;
        }""",
    )
    assert result["option"].startswith('TypeError: WsClient has no option "retries"')
    assert "bufferSize" in result["option"]
    assert result["scheme"].startswith("TypeError: A WebSocket URL is ws://")
    assert result["protocols"].startswith("TypeError: WsClient option protocols")
    assert "sendJSON()" in result["object"]
    assert result["code"].startswith("RangeError")
    assert result["action"]["name"] == "TypeError"


# Calls ---------------------------------------------------------------------------


def test_call_resolves_with_the_result(page: Any) -> None:
    """call() sends {action, id, payload} and resolves with the reply's result."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/js/protocol/");
            const log = record(client);
            const results = await Promise.all([
                client.call("echo", { text: "hi" }),
                client.call("echo"),
                client.call("whoami"),
            ]);
            // An application message that looks like a reply to no waiting call.
            const emitted = await client.call("emit", [{ id: "c1", ok: true, text: "app" }]);
            client.close();
            return { results, emitted, log };
        }""",
    )
    assert result["results"][:2] == [{"text": "hi"}, None]
    # By default nothing is offered, so any view accepts the handshake;
    # calls are told apart by their shape.
    assert result["results"][2]["offered"] == []
    assert not result["results"][2]["accepted"]
    assert result["emitted"] == 1
    # The reply ("c1" was answered already) is no message; the look-alike is.
    messages = [entry for entry in result["log"] if entry["type"] == "message"]
    assert messages == [
        {
            "type": "message",
            "state": "open",
            "json": {"id": "c1", "ok": True, "text": "app"},
            "data": '{"id": "c1", "ok": true, "text": "app"}',
        }
    ]


def test_reply_needs_a_waiting_id_and_a_boolean_ok(page: Any) -> None:
    """A message with a waiting call's id but no boolean ok is an application message."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/js/protocol/");
            const log = record(client);
            const held = client.call("hold");  // c1, waiting
            await client.call("emit", [{ id: "c1", text: "app" }, { id: "c1", ok: "yes" }]);
            const released = await client.call("release");
            const reply = await held;
            client.close();
            await nextEvent(client, "close", WAIT_MS);
            return {
                released, reply,
                messages: log.filter((e) => e.type === "message").map((e) => e.json),
            };
        }""",
    )
    assert result == {
        "released": "c1",
        "reply": "released late",
        "messages": [{"id": "c1", "text": "app"}, {"id": "c1", "ok": "yes"}],
    }


def test_error_reply_rejects_with_code_message_details(page: Any) -> None:
    """An error reply rejects with CallError carrying code, message and details; the socket stays open."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/js/protocol/");
            const failed = await outcome(client.call("fail", {
                code: "invalid", message: "text is required", details: { text: ["Required."] },
            }));
            const instance = await client.call("fail", { code: "x", message: "m" })
                .catch((error) => error instanceof wsviews.CallError && error instanceof wsviews.WsError);
            const unknown = await outcome(client.call("no-such-action"));
            const after = await client.call("echo", 2);
            const state = client.state;
            client.close();
            return { failed, instance, unknown, after, state };
        }""",
    )
    assert result["failed"] == {
        "name": "CallError",
        "code": "invalid",
        "message": "text is required",
        "details": {"text": ["Required."]},
    }
    assert result["instance"] is True
    assert result["unknown"]["code"] == "unknown_action"
    assert (result["after"], result["state"]) == (2, "open")


def test_call_timeout_rejects_and_late_reply_is_dropped(page: Any) -> None:
    """A call with no reply in time rejects "timeout"; its late reply is no message."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/js/protocol/");
            const log = record(client);
            await nextEvent(client, "open", WAIT_MS);
            const timedOut = await outcome(client.call("hold", null, { timeout: 50 }));
            // The server now replies to the held call, then to this one.
            const released = await client.call("release");
            const silent = await outcome(client.call("silent", null, { timeout: 0 }));
            client.close();
            await nextEvent(client, "close", WAIT_MS);
            return { timedOut, released, silent, log };
        }""",
    )
    assert result["timedOut"]["name"] == "WsError"
    assert result["timedOut"]["code"] == "timeout"
    assert result["timedOut"]["message"] == 'No reply to "hold" within 50 ms.'
    assert result["released"] == "c1"
    assert result["silent"]["code"] == "timeout"
    assert [entry["type"] for entry in result["log"]] == ["open", "close"]


def test_buffered_call_that_times_out_is_never_sent(page: Any) -> None:
    """A call waiting in the buffer times out there, and leaves the buffer."""
    result = run(
        page,
        """async (url) => {
            const client = new wsviews.WsClient(url, { minDelay: 10, maxDelay: 20 });
            const timedOut = await outcome(client.call("echo", 1, { timeout: 30 }));
            const buffered = client.buffered;
            client.close();
            return { timedOut, buffered };
        }""",
        refused_url(),
    )
    assert result == {
        "timedOut": {
            "name": "WsError",
            "code": "timeout",
            "message": 'No reply to "echo" within 30 ms.',
            "details": None,
        },
        "buffered": 0,
    }


def test_buffer_is_bounded_send_throws(page: Any) -> None:
    """Past bufferSize, send() throws WsError "buffer_full" and call() rejects; nothing is dropped."""
    result = run(
        page,
        """async (url) => {
            const client = new wsviews.WsClient(url, { bufferSize: 2, minDelay: 10, maxDelay: 20 });
            client.send("a");
            client.sendJSON("b");
            let thrown;
            try { client.send("c"); } catch (error) { thrown = { name: error.name, code: error.code }; }
            const call = await outcome(client.call("echo", 1));
            const buffered = client.buffered;
            client.close();
            let afterClose;
            try { client.send("d"); } catch (error) { afterClose = error.code; }
            return { thrown, call: call.code, buffered, afterClose, state: client.state };
        }""",
        refused_url(),
    )
    assert result == {
        "thrown": {"name": "WsError", "code": "buffer_full"},
        "call": "buffer_full",
        "buffered": 2,
        "afterClose": "closed",
        "state": "closed",
    }


# Close codes and reconnecting ----------------------------------------------------


@pytest.mark.parametrize("code", [4403, 4401, 1008, 1000, 4008, 4100])
def test_stop_code_closes_for_good(page: Any, code: int) -> None:
    """A close with a stop code ends the client: state "closed", no reconnect, calls rejected."""
    result = run(
        page,
        """async (code) => {
            const client = new wsviews.WsClient("/ws/js/protocol/", { minDelay: 0, maxDelay: 0 });
            const log = record(client);
            await nextEvent(client, "open", WAIT_MS);
            const closing = outcome(client.call("close", code));
            await nextEvent(client, "close", WAIT_MS);
            const pending = await closing;
            // A reconnect would have been scheduled in the close handling itself.
            let sent;
            try { client.send("x"); } catch (error) { sent = error.code; }
            return { state: client.state, pending: pending.code, sent, log };
        }""",
        code,
    )
    assert result["state"] == "closed"
    assert result["pending"] == "disconnected"
    assert result["sent"] == "closed"
    assert [entry["type"] for entry in result["log"]] == ["open", "close"]
    assert result["log"][-1] == {
        "type": "close",
        "state": "closed",
        "code": code,
        "willReconnect": False,
    }


@pytest.mark.parametrize("code", [1012, 1011, 1013, 4012])
def test_retry_code_reconnects(page: Any, code: int) -> None:
    """A close with a retry code reconnects: "reconnecting", then "open" with reconnected true."""
    result = run(
        page,
        """async (code) => {
            const client = new wsviews.WsClient("/ws/js/protocol/", { minDelay: 20, maxDelay: 20 });
            const log = record(client);
            await nextEvent(client, "open", WAIT_MS);
            const reopened = nextEvent(client, "open", WAIT_MS);
            client.notify("close", code);
            await reopened;
            const echoed = await client.call("echo", "again");
            client.close();
            return { echoed, log };
        }""",
        code,
    )
    assert result["echoed"] == "again"
    assert [entry["type"] for entry in result["log"]][:4] == [
        "open",
        "close",
        "reconnecting",
        "open",
    ]
    close, reconnecting, reopened = result["log"][1:4]
    assert close == {
        "type": "close",
        "state": "reconnecting",
        "code": code,
        "willReconnect": True,
    }
    assert reconnecting["attempt"] == 1
    assert reconnecting["code"] == code
    assert 0 <= reconnecting["delay"] <= 20
    assert reopened["reconnected"] is True


def test_close_code_policy_table(page: Any) -> None:
    """shouldReconnect() follows docs/javascript.rst's table, daphne's 4xxx forms included."""
    result = run(
        page,
        """async () => Object.fromEntries(
            [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1012, 1013, 1014,
             4001, 4003, 4007, 4008, 4009, 4011, 4012, 4013, 4014, 4401, 4403, 3000, 4000,
             4999]
            .map((code) => [code, wsviews.shouldReconnect(code)]))""",
    )
    retry = {1001, 1005, 1006, 1011, 1012, 1013, 1014, 4001, 4011, 4012, 4013, 4014}
    assert {int(code) for code, again in result.items() if again} == retry


def test_backoff_is_full_jitter_and_bounded(page: Any) -> None:
    """Each delay is random() times min(maxDelay, minDelay * factor ** attempt), never more."""
    result = run(
        page,
        """async () => {
            // Chromium slows down repeated refused connections on its own, so
            // these attempts fail through a stand-in that refuses at once.
            class Refusing extends EventTarget {
                constructor() {
                    super();
                    this.readyState = 0;
                    setTimeout(() => this.dispatchEvent(
                        Object.assign(new Event("close"), { code: 1006, reason: "", wasClean: false })));
                }
                close() {}
            }
            const collect = async (random) => {
                const client = new wsviews.WsClient("ws://example.invalid/", {
                    minDelay: 10, maxDelay: 80, random, giveUpAfter: Infinity, WebSocket: Refusing,
                });
                const delays = [];
                for (let i = 0; i < 7; i++) {
                    delays.push((await nextEvent(client, "reconnecting", WAIT_MS)).delay);
                }
                client.close();
                return delays;
            };
            return {
                half: await collect(() => 0.5),
                top: await collect(() => 0.9999),
                zero: await collect(() => 0),
                random: await collect(Math.random),
                pure: [0, 1, 2, 3, 30].map((attempt) => wsviews.backoffDelay(
                    attempt, { minDelay: 100, maxDelay: 1000, factor: 3 }, () => 1)),
            };
        }""",
    )
    ceilings = [10, 20, 40, 80, 80, 80, 80]
    assert result["half"] == [ceiling // 2 for ceiling in ceilings]
    assert result["top"] == [ceiling - 1 for ceiling in ceilings]
    assert result["zero"] == [0] * 7
    assert all(
        0 <= delay <= ceiling
        for delay, ceiling in zip(result["random"], ceilings, strict=True)
    )
    assert result["pure"] == [100, 300, 900, 1000, 1000]


def test_gives_up_after_the_configured_time(page: Any) -> None:
    """With no connection for giveUpAfter ms, "giveup" fires, the state is "closed", calls reject."""
    result = run(
        page,
        """async (url) => {
            const started = Date.now();
            const client = new wsviews.WsClient(url, { minDelay: 10, maxDelay: 40, giveUpAfter: 300 });
            const log = record(client);
            const call = outcome(client.call("echo", 1, { timeout: Infinity }));
            const giveup = await nextEvent(client, "giveup", WAIT_MS);
            const waited = Date.now() - started;
            const state = client.state;
            const rejected = await call;
            client.connect();
            const again = client.state;
            client.close();
            return {
                waited, state, again, rejected: rejected.code,
                attempts: giveup.attempts, elapsed: giveup.elapsed, code: giveup.code,
                types: log.map((entry) => entry.type),
            };
        }""",
        refused_url(),
    )
    assert result["state"] == "closed"
    assert result["rejected"] == "closed"
    # Not at the first failure: after giveUpAfter (timers may round a little).
    assert result["waited"] >= 250
    assert result["elapsed"] >= 250
    assert result["code"] == 1006
    assert result["attempts"] >= 2
    assert result["again"] == "connecting"
    reconnecting = result["types"][: result["attempts"]]
    assert reconnecting == ["reconnecting"] * result["attempts"]
    assert result["types"][result["attempts"]] == "giveup"


def test_connect_timeout_abandons_an_attempt(page: Any) -> None:
    """An attempt that does not open within connectTimeout is closed and retried."""
    result = run(
        page,
        """async () => {
            const made = [];
            class Hanging extends EventTarget {
                constructor(url, protocols) { super(); this.readyState = 0; made.push(this); }
                close() { this.closed = true; }
            }
            const client = new wsviews.WsClient("ws://example.invalid/", {
                WebSocket: Hanging, connectTimeout: 30, minDelay: 0, maxDelay: 0,
            });
            const event = await nextEvent(client, "reconnecting", WAIT_MS);
            const first = made[0].closed === true;
            client.close();
            return { code: event.code, first };
        }""",
    )
    assert result == {"code": 1006, "first": True}


def test_server_restart_reconnects_and_delivers_in_order(
    browser: Any, tmp_path: Path
) -> None:
    """
    uvicorn stops (1012) and a new one starts on the same port: the page
    reconnects, and what was sent while down arrives in order.
    """
    first = Server("uvicorn", tmp_path / "first")
    second = Server("uvicorn", tmp_path / "second")
    second.port = first.port
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first.start()
    try:
        page = open_page(browser, first)
        try:
            down = run(
                page,
                """async () => {
                    const client = new wsviews.WsClient("/ws/js/protocol/", {
                        minDelay: 50, maxDelay: 200, giveUpAfter: 60000,
                    });
                    window.client = client;
                    window.log = record(client);
                    await client.call("echo", "up");
                    window.pending = outcome(client.call("silent", null, { timeout: Infinity }));
                    return true;
                }""",
            )
            assert down is True
            first.stop()
            during = run(
                page,
                """async () => {
                    if (client.state === "open") await nextEvent(client, "close", WAIT_MS);
                    const pending = await window.pending;
                    // Listening from now on: the reconnect may come before the next evaluate().
                    window.messages = [];
                    client.addEventListener("message", (event) => messages.push(event.json));
                    client.sendJSON({ n: 1 });
                    client.send('{"n": 2}');
                    window.reply = outcome(client.call("echo", "buffered call"));
                    client.sendJSON({ n: 3 });
                    return { state: client.state, buffered: client.buffered, pending: pending.code };
                }""",
            )
            assert during == {
                "state": "reconnecting",
                "buffered": 4,
                "pending": "disconnected",
            }
            second.start()
            after = run(
                page,
                """async () => {
                    if (client.state !== "open") await nextEvent(client, "open", 3 * WAIT_MS);
                    const reply = await window.reply;
                    while (messages.length < 3) await nextEvent(client, "message", WAIT_MS);
                    client.close();
                    await nextEvent(client, "close", WAIT_MS);
                    return {
                        messages, reply, closes: log.filter((e) => e.type === "close").map((e) => e.code),
                        reopened: log.filter((e) => e.type === "open").map((e) => e.reconnected),
                    };
                }""",
            )
            assert page.errors == []
        finally:
            page.close()
    finally:
        first.stop_or_kill()
        second.stop_or_kill()
    assert after["messages"] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert after["reply"] == {"resolved": "buffered call"}
    assert after["closes"] == [1012, 1000]
    assert after["reopened"] == [False, True]
    assert_clean(first.log())
    assert_clean(second.log())


# Resume and tokens ----------------------------------------------------------------


def test_resume_sends_the_last_seq_and_reset_forgets_it(page: Any) -> None:
    """After messages with a seq, a reconnect carries wsviews_last=<seq>; wsviews.reset clears it."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/js/protocol/", { minDelay: 0, maxDelay: 0 });
            const log = record(client);
            const reconnect = async () => {
                const reopened = nextEvent(client, "open", WAIT_MS);
                client.notify("close", 1012);
                await reopened;
                return (await client.call("whoami")).last;
            };
            const initial = (await client.call("whoami")).last;
            await client.call("emit", [{ seq: "7:1", text: "a" }, { seq: "7:2", text: "b" }, { text: "c" }]);
            // A reply's keys are not an application message's.
            await client.call("echo", { seq: "9:9" });
            const seen = client.lastSeq;
            const resumed = await reconnect();
            await client.call("emit", [{ event: "wsviews.reset" }]);
            const afterReset = client.lastSeq;
            const fresh = await reconnect();
            client.close();
            return {
                initial, seen, resumed, afterReset, fresh,
                resets: log.filter((e) => e.type === "reset").map((e) => e.json),
                messages: log.filter((e) => e.type === "message").map((e) => e.json.text),
            };
        }""",
    )
    assert result == {
        "initial": None,
        "seen": "7:2",
        "resumed": "7:2",
        "afterReset": None,
        "fresh": None,
        "resets": [{"event": "wsviews.reset"}],
        "messages": ["a", "b", "c"],
    }


def test_last_seq_option_resumes_the_first_connection(page: Any) -> None:
    """lastSeq given to the constructor goes with the first handshake; resume: false sends none."""
    result = run(
        page,
        """async () => {
            const ask = async (options) => {
                const client = new wsviews.WsClient("/ws/js/protocol/", options);
                const last = (await client.call("whoami")).last;
                client.close();
                return last;
            };
            return [await ask({ lastSeq: "3:14" }), await ask({ lastSeq: "3:14", resume: false })];
        }""",
    )
    assert result == ["3:14", None]


def test_token_function_is_called_on_each_connect(page: Any) -> None:
    """token: a function (sync or async) is called per attempt and offered as bearer.<token>."""
    result = run(
        page,
        """async () => {
            let n = 0;
            const client = new wsviews.WsClient("/ws/js/protocol/", {
                token: async () => `t${++n}`, protocols: ["wsviews.v1", "chat.v1"],
                minDelay: 0, maxDelay: 0,
            });
            const first = await client.call("whoami");
            const reopened = nextEvent(client, "open", WAIT_MS);
            client.notify("close", 1012);
            await reopened;
            const second = await client.call("whoami");
            client.close();
            // This view is no token view: it answers the protocol offered beside.
            const plain = new wsviews.WsClient("/ws/js/protocol/", {
                token: "fixed", protocols: [wsviews.PROTOCOL],
            });
            const third = await plain.call("whoami");
            plain.close();
            return { first, second, third, protocol: client.protocol };
        }""",
    )
    assert result["first"]["offered"] == ["wsviews.v1", "chat.v1", "bearer.t1"]
    assert result["second"]["offered"] == ["wsviews.v1", "chat.v1", "bearer.t2"]
    assert result["third"]["offered"] == ["wsviews.v1", "bearer.fixed"]
    assert result["first"]["accepted"] == "wsviews.v1"
    assert result["protocol"] == ""  # closed


def test_failing_token_function_is_an_error_event_and_a_retry(page: Any) -> None:
    """A token function that throws dispatches "error" and counts as a failed attempt."""
    result = run(
        page,
        """async () => {
            let n = 0;
            const client = new wsviews.WsClient("/ws/js/protocol/", {
                token: () => { if (++n === 1) throw new Error("no token yet"); return "ok"; },
                protocols: [wsviews.PROTOCOL], minDelay: 0, maxDelay: 0,
            });
            const log = record(client);
            const offered = (await client.call("whoami")).offered;
            client.close();
            await nextEvent(client, "close", WAIT_MS);
            return { offered, log: log.map((entry) => [entry.type, entry.error ?? entry.code ?? null]) };
        }""",
    )
    # Listeners added after the constructor hear of its first attempt too.
    assert result == {
        "offered": ["wsviews.v1", "bearer.ok"],
        "log": [
            ["error", "Error: no token yet"],
            ["reconnecting", None],
            ["open", None],
            ["close", 1000],
        ],
    }


def test_default_options_connect_to_a_view_without_subprotocols(page: Any) -> None:
    """With default options the client offers no subprotocol, so a plain view (EchoView) accepts it."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/echo/");
            await nextEvent(client, "open", WAIT_MS);
            client.send("plain");
            const event = await nextEvent(client, "message", WAIT_MS);
            const state = client.state;
            client.close();
            return { data: event.data, state, protocol: client.protocol };
        }""",
    )
    assert result == {"data": "plain", "state": "open", "protocol": ""}


#: Defaults the options table names rather than writes as a value; DEFAULTS
#: holds null for each, resolved when a client is made.
RESOLVED_DEFAULTS = {"Math.random", "globalThis.WebSocket", "the module's"}


def documented_defaults() -> dict[str, Any]:
    """Return the options table of docs/javascript.rst: name to default, as JSON."""
    page = (REPO_ROOT / "docs" / "javascript.rst").read_text(encoding="utf-8")
    table = page.split("Options\n~~~~~~~", 1)[1].split("Properties\n", 1)[0]
    rows = re.findall(r"^   \* - ``(\w+)``\n     - (.+)$", table, re.M)
    return {
        name: None
        if any(
            value.startswith(f"``{r}") or value.startswith(r) for r in RESOLVED_DEFAULTS
        )
        else json.loads(value.strip("`"))
        for name, value in rows
    }


def test_default_options_are_the_documented_ones(page: Any) -> None:
    """wsviews.DEFAULTS holds what the options table documents; the backoff's ceilings follow."""
    result = run(
        page,
        """async () => ({
            defaults: JSON.parse(JSON.stringify(wsviews.DEFAULTS)),
            frozen: Object.isFrozen(wsviews.DEFAULTS),
            firstCeiling: wsviews.backoffDelay(0, {}, () => 1),
            lastCeiling: wsviews.backoffDelay(30, {}, () => 1),
            jittered: wsviews.backoffDelay(0),
        })""",
    )
    documented = documented_defaults()
    assert len(documented) == 15  # every row of the table was read
    assert result["defaults"] == documented
    assert result["frozen"]
    # 0.5 s for the first retry, 30 s at most; Math.random's jitter below it.
    assert (result["firstCeiling"], result["lastCeiling"]) == (500, 30000)
    assert 0 <= result["jittered"] < 500


def test_on_properties_hold_one_handler_each(page: Any) -> None:
    """client.on<type> holds one handler, as on a WebSocket; replacing it drops the old one."""
    result = run(
        page,
        """async () => {
            const client = new wsviews.WsClient("/ws/echo/", PLAIN);
            const heard = [];
            client.onopen = () => heard.push("first onopen");
            client.onopen = () => heard.push("onopen");
            client.onmessage = (event) => heard.push(`onmessage ${event.data}`);
            client.addEventListener("message", () => heard.push("listener"));
            await nextEvent(client, "open", WAIT_MS);
            client.send("ping");
            await nextEvent(client, "message", WAIT_MS);
            client.onmessage = null;
            client.send("pong");
            await nextEvent(client, "message", WAIT_MS);
            const handler = client.onmessage;
            client.close();
            return { heard, handler };
        }""",
    )
    assert result == {
        "heard": ["onopen", "onmessage ping", "listener", "listener"],
        "handler": None,
    }
