/**
 * The room page (chat/room.html): one WsClient to the room's socket.
 *
 * Out: client.call("post", {text}) and client.notify("typing"), actions of
 * chat.sockets.ChatRoomView. In: what the room's groups broadcast,
 * {"event": "message" | "typing" | "announcement", ...}. After a reconnect,
 * client.call("history", {after}) fetches what was said meanwhile.
 *
 * The page's state ("connecting", "open", "reconnecting", "closed") is in
 * the root element's data-state attribute.
 */

// "wsviews" is django_wsviews/wsviews.js, mapped by {% wsviews_js %}.
import { WsClient } from "wsviews";

/** Milliseconds between two "typing" notifications while the user types. */
const TYPING_EVERY = 2000;
/** Milliseconds a "... is typing" line stays without news. */
const TYPING_SHOWN = 4000;
/** Messages per "history" reply (chat.views.HISTORY). */
const HISTORY = 50;

const LABELS = {
  connecting: "connecting",
  open: "connected",
  reconnecting: "reconnecting",
  closed: "disconnected",
};

startRoom(document.getElementById("room"));

function startRoom(root) {
  const list = root.querySelector("#messages");
  const status = root.querySelector("#status");
  const typingLine = root.querySelector("#typing");
  const form = root.querySelector("#composer");
  const input = form.elements.text;
  const errorLine = root.querySelector("#error");
  const me = root.dataset.user;

  let lastId = 0;
  let typingSentAt = 0;
  const typists = new Map(); // user -> timer hiding them

  for (const item of list.querySelectorAll("li[data-id]")) {
    lastId = Math.max(lastId, Number(item.dataset.id));
    item.classList.toggle("mine", item.dataset.user === me);
  }
  for (const time of list.querySelectorAll("time[datetime]")) {
    time.textContent = clock(time.dateTime);
  }
  list.scrollTop = list.scrollHeight;

  // The URL that {% ws_route "chat:room" room=room %} wrote into the page.
  const client = WsClient.forRoute("chat:room");

  function setState(state, text = LABELS[state]) {
    root.dataset.state = state;
    status.textContent = text;
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = !text;
  }

  client.addEventListener("open", async (event) => {
    setState("open");
    if (event.reconnected) {
      try {
        await catchUp();
      } catch (error) {
        showError(`Some messages may be missing: ${error.message}`);
      }
    }
  });
  client.addEventListener("reconnecting", () => setState("reconnecting"));
  client.addEventListener("close", (event) => {
    if (event.willReconnect) {
      setState("reconnecting");
    } else if (event.code === 4401) {
      setState("closed", "logged out: log in again and reload");
    } else {
      setState("closed", `disconnected (${event.code}): reload the page`);
    }
  });
  client.addEventListener("giveup", () => setState("closed", "gave up: reload the page"));
  client.addEventListener("message", (event) => receive(event.json));

  function receive(data) {
    if (data === null || typeof data !== "object") return;
    if (data.event === "message") {
      add(data.message);
      hideTypist(data.message.user);
    } else if (data.event === "typing" && data.user !== me) {
      showTypist(data.user);
    } else if (data.event === "announcement") {
      announce(data);
    }
  }

  /** Fetch, in batches, the messages after the last one on the page. */
  async function catchUp() {
    for (;;) {
      const batch = await client.call("history", { after: lastId });
      batch.forEach(add);
      if (batch.length < HISTORY) return;
    }
  }

  /** Show a message once, in the order of ids (a live one may beat history). */
  function add(message) {
    if (list.querySelector(`li[data-id="${message.id}"]`)) return;
    const item = element("li", "message");
    item.dataset.id = message.id;
    item.dataset.user = message.user;
    item.classList.toggle("mine", message.user === me);
    const time = element("time", "", clock(message.created));
    time.dateTime = message.created;
    item.append(element("span", "user", message.user), " ", time);
    item.append(element("p", "text", message.text));
    let before = null;
    for (const other of [...list.querySelectorAll("li[data-id]")].reverse()) {
      if (Number(other.dataset.id) < message.id) break;
      before = other;
    }
    append(item, before);
    lastId = Math.max(lastId, message.id);
  }

  function announce({ user, text }) {
    const item = element("li", "announcement");
    item.append(element("span", "user", user), " announces:");
    item.append(element("p", "text", text));
    append(item, null);
  }

  function append(item, before) {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.insertBefore(item, before);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function showTypist(user) {
    clearTimeout(typists.get(user));
    typists.set(user, setTimeout(() => hideTypist(user), TYPING_SHOWN));
    renderTypists();
  }

  function hideTypist(user) {
    clearTimeout(typists.get(user));
    if (typists.delete(user)) renderTypists();
  }

  function renderTypists() {
    const names = [...typists.keys()];
    typingLine.textContent =
      names.length === 0 ? "" : `${names.join(" and ")} ${names.length === 1 ? "is" : "are"} typing…`;
  }

  input.addEventListener("input", () => {
    const now = Date.now();
    // Only while connected: a stale "typing" is not worth buffering.
    if (client.state === "open" && input.value && now - typingSentAt > TYPING_EVERY) {
      typingSentAt = now;
      client.notify("typing");
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    try {
      // While reconnecting, the call waits in the client's buffer.
      await client.call("post", { text });
      input.value = "";
      typingSentAt = 0;
      showError("");
    } catch (error) {
      showError(error.message);
    }
  });
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}
