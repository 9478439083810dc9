/**
 * The room page (chat/room.html): one WsClient to the room's socket.
 *
 * Out: client.call("post", {text}) and client.notify("typing"), actions of
 * chat.sockets.ChatRoomView. In: what the room's groups broadcast,
 * {"event": "message" | "typing" | "announcement", ...}, and the room's
 * presence events, which keep the "Online" line. Messages carry a "seq": the
 * client resumes after the last one when it reconnects (the first time,
 * after the page's data-last-seq), so the server replays what was said
 * meanwhile; a "reset" (the server lost its history) reloads the page.
 *
 * The page's state ("connecting", "open", "reconnecting", "closed") is in
 * the root element's data-state attribute.
 */

// "wsviews" is django_wsviews/wsviews.js, mapped by {% wsviews_js %}.
import { Presence, WsClient } from "wsviews";

/** Milliseconds between two "typing" notifications while the user types. */
const TYPING_EVERY = 2000;
/** Milliseconds a "... is typing" line stays without news. */
const TYPING_SHOWN = 4000;

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
  const onlineLine = root.querySelector("#online");
  // The room's members: a full list on connect, then who comes and goes.
  const online = new Presence(onlineLine.dataset.group);
  online.addEventListener("change", renderOnline);

  let typingSentAt = 0;
  const typists = new Map(); // user -> timer hiding them

  for (const item of list.querySelectorAll("li[data-id]")) {
    item.classList.toggle("mine", item.dataset.user === me);
  }
  for (const time of list.querySelectorAll("time[datetime]")) {
    time.textContent = clock(time.dateTime);
  }
  list.scrollTop = list.scrollHeight;

  // The URL that {% ws_route "chat:room" room=room %} wrote into the page.
  const client = WsClient.forRoute("chat:room", {
    lastSeq: root.dataset.lastSeq || null,
  });

  function setState(state, text = LABELS[state]) {
    root.dataset.state = state;
    status.textContent = text;
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = !text;
  }

  client.addEventListener("open", () => setState("open"));
  // The server cannot say what was missed: show the room as it is now.
  client.addEventListener("reset", () => location.reload());
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
    if (online.apply(data)) return;
    if (data.event === "message") {
      add(data.message);
      hideTypist(data.message.user);
    } else if (data.event === "typing" && data.user !== me) {
      showTypist(data.user);
    } else if (data.event === "announcement") {
      announce(data);
    }
  }

  /** Show a message once, in the order of ids (one shown may be replayed). */
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

  /** One name per user, however many tabs; the metadata says who they are. */
  function renderOnline() {
    const names = [...online.members.values()].map(
      (member) => Object.values(member.connections)[0]?.username ?? "someone",
    );
    onlineLine.textContent = names.sort().join(", ");
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
