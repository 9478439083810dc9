/**
 * wsviews.js: the browser client of django-wsviews.
 *
 * An ES module with no dependencies and no build step. It speaks the wire
 * protocol wsviews.v1 (docs/protocol.rst) and is documented in
 * docs/javascript.rst; wsviews.d.ts, beside it, declares its types.
 *
 *     import { WsClient } from "wsviews";   // {% wsviews_js %} maps the name
 *
 *     const chat = new WsClient("/ws/chat/lobby/");
 *     chat.addEventListener("message", (event) => show(event.json));
 *     chat.sendJSON({ text: "hello" });
 *     const result = await chat.call("rooms.post", { text: "hello" });
 *
 * A WsClient reconnects on its own (exponential backoff, full jitter) when
 * the connection drops for a reason worth retrying, buffers what is sent
 * while it is down (bounded: past the bound, send() throws) and flushes it
 * in order on reconnect, and stops for good on a close code that says
 * retrying cannot help (policy, authentication, size).
 */

/** The subprotocol a WsClient offers by default. */
export const PROTOCOL = "wsviews.v1";

/** The prefix of the subprotocol that carries a token ("bearer.<token>"). */
export const TOKEN_PREFIX = "bearer.";

/** The query parameter that asks the server to resume after a seq. */
export const RESUME_PARAMETER = "wsviews_last";

// Registered codes (RFC 6455, IANA) by what they mean for a client.
const RETRY_REGISTERED = [1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015];
const STOP_REGISTERED = [1000, 1002, 1003, 1007, 1008, 1009, 1010];
// Daphne sends a registered code 1001-1015 as 4001-4015 (docs/servers.rst).
const daphneForms = (codes) => codes.filter((code) => code > 1000).map((code) => code + 3000);

/** Codes after which the client reconnects: going away, restarts, errors, dropped connections. */
export const RETRY_CODES = Object.freeze([...RETRY_REGISTERED, ...daphneForms(RETRY_REGISTERED)]);

/** Codes after which the client stops: the server closed on purpose, or retrying cannot help. */
export const STOP_CODES = Object.freeze([
  ...STOP_REGISTERED,
  ...daphneForms(STOP_REGISTERED),
  4401, // unauthorized: logged out, session expired, no valid token
  4403, // forbidden
]);

/** The options a WsClient takes, with their defaults (times in milliseconds). */
export const DEFAULTS = Object.freeze({
  // None by default: a browser fails a handshake whose offered subprotocols
  // the server ignores, and a view without actions lists none.
  protocols: Object.freeze([]),
  token: null,
  minDelay: 500,
  maxDelay: 30000,
  factor: 2,
  giveUpAfter: 300000,
  connectTimeout: 10000,
  bufferSize: 100,
  callTimeout: 10000,
  resume: true,
  lastSeq: null,
  shouldReconnect: null, // null: the module's shouldReconnect()
  random: null, // null: Math.random
  binaryType: "blob",
  WebSocket: null, // null: globalThis.WebSocket
});

/** The event types a WsClient dispatches (each has an on<type> property too). */
export const EVENT_TYPES = Object.freeze([
  "open",
  "message",
  "close",
  "reconnecting",
  "giveup",
  "reset",
  "error",
]);

const OPEN = 1; // WebSocket.OPEN
const TOKEN_CHARACTERS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/; // RFC 7230's token
const MAX_ABANDONED = 1000;

const RETRY = new Set(RETRY_CODES);
const STOP = new Set(STOP_CODES);

/**
 * Return whether a connection closed with `code` should be retried.
 *
 * RETRY_CODES: yes; STOP_CODES: no. Any other code: yes below 3000 (a
 * registered code this table does not name), no from 3000 (an application's
 * own code is deliberate).
 */
export function shouldReconnect(code) {
  if (RETRY.has(code)) return true;
  if (STOP.has(code)) return false;
  return code < 3000;
}

/**
 * Return the delay before reconnect attempt `attempt` (0 for the first):
 * full jitter, a random whole number of milliseconds in
 * [0, min(maxDelay, minDelay * factor ** attempt)].
 */
export function backoffDelay(attempt, options = DEFAULTS, random = Math.random) {
  const { minDelay, maxDelay, factor } = { ...DEFAULTS, ...options };
  const ceiling = Math.min(maxDelay, minDelay * factor ** attempt);
  const fraction = Math.min(Math.max(Number(random()) || 0, 0), 1);
  return Math.floor(fraction * ceiling);
}

/**
 * Return the absolute ws:// or wss:// URL of `url`.
 *
 * A relative URL ("/ws/chat/lobby/") is resolved against `base` (the page's
 * address by default), http becoming ws and https wss. Throws TypeError for
 * any other scheme, or for a relative URL with nothing to resolve it against.
 */
export function resolveUrl(url, base = globalThis.location?.href) {
  let resolved;
  try {
    resolved = new URL(String(url), base);
  } catch {
    throw new TypeError(
      `Not a WebSocket URL: ${JSON.stringify(String(url))}` +
        (base === undefined ? " (a relative URL needs a page to resolve against)" : ""),
    );
  }
  if (resolved.protocol === "http:") resolved.protocol = "ws:";
  else if (resolved.protocol === "https:") resolved.protocol = "wss:";
  else if (resolved.protocol !== "ws:" && resolved.protocol !== "wss:") {
    throw new TypeError(
      `A WebSocket URL is ws://, wss://, http://, https:// or relative, not ${resolved.protocol}`,
    );
  }
  resolved.hash = "";
  return resolved.href;
}

/** A failure on the client's side: code "closed", "buffer_full", "timeout" or "disconnected". */
export class WsError extends Error {
  constructor(code, message, details = undefined) {
    super(message);
    this.name = "WsError";
    this.code = code;
    this.details = details;
  }
}

/** The server's error reply to a call: its code, message and details. */
export class CallError extends WsError {
  constructor(code, message, details = undefined) {
    super(code, message, details);
    this.name = "CallError";
  }
}

/** "open": a connection opened (`reconnected` is false for the client's first). */
export class WsOpenEvent extends Event {
  constructor(reconnected, protocol) {
    super("open");
    this.reconnected = reconnected;
    this.protocol = protocol;
  }
}

/** "message" (and "reset"): `data` as received, `json` parsed (undefined when the frame is not JSON). */
export class WsMessageEvent extends Event {
  constructor(type, data, json) {
    super(type);
    this.data = data;
    this.json = json;
  }
}

/** "close": a connection closed; `willReconnect` says whether the client tries again. */
export class WsCloseEvent extends Event {
  constructor(code, reason, wasClean, willReconnect) {
    super("close");
    this.code = code;
    this.reason = reason;
    this.wasClean = wasClean;
    this.willReconnect = willReconnect;
  }
}

/** "reconnecting": attempt number `attempt` (from 1) starts in `delay` ms; `code` ended the last one. */
export class WsReconnectingEvent extends Event {
  constructor(attempt, delay, code) {
    super("reconnecting");
    this.attempt = attempt;
    this.delay = delay;
    this.code = code;
  }
}

/** "giveup": no connection opened within giveUpAfter ms; the client is closed. */
export class WsGiveUpEvent extends Event {
  constructor(attempts, elapsed, code) {
    super("giveup");
    this.attempts = attempts;
    this.elapsed = elapsed;
    this.code = code;
  }
}

/** "error": an attempt could not start (the token function threw, the URL or a protocol was refused). */
export class WsErrorEvent extends Event {
  constructor(error) {
    super("error");
    this.error = error;
  }
}

function checkOptions(options) {
  if (options === null || typeof options !== "object") {
    throw new TypeError("WsClient options are an object.");
  }
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(DEFAULTS, name)) {
      throw new TypeError(
        `WsClient has no option ${JSON.stringify(name)}; the options are: ${Object.keys(DEFAULTS).join(", ")}.`,
      );
    }
  }
  const merged = { ...DEFAULTS, ...options };
  for (const name of ["minDelay", "maxDelay", "factor", "bufferSize"]) {
    if (!(typeof merged[name] === "number" && merged[name] >= 0 && Number.isFinite(merged[name]))) {
      throw new TypeError(`WsClient option ${name} is a finite number >= 0.`);
    }
  }
  for (const name of ["giveUpAfter", "connectTimeout", "callTimeout"]) {
    if (!(typeof merged[name] === "number" && merged[name] >= 0)) {
      throw new TypeError(
        `WsClient option ${name} is a number of milliseconds >= 0 (Infinity for none).`,
      );
    }
  }
  const protocols = merged.protocols;
  if (
    !Array.isArray(protocols) ||
    protocols.some((p) => typeof p !== "string" || !TOKEN_CHARACTERS.test(p)) ||
    new Set(protocols).size !== protocols.length
  ) {
    throw new TypeError(
      "WsClient option protocols is an array of distinct subprotocol names (letters, digits, and !#$%&'*+-.^_`|~).",
    );
  }
  const token = merged.token;
  if (token !== null && typeof token !== "string" && typeof token !== "function") {
    throw new TypeError("WsClient option token is a string, or a function that returns one.");
  }
  merged.shouldReconnect ??= shouldReconnect;
  merged.random ??= Math.random;
  merged.WebSocket ??= globalThis.WebSocket;
  if (typeof merged.WebSocket !== "function") {
    throw new TypeError("No WebSocket here: pass the WebSocket option.");
  }
  return merged;
}

function parseJSON(data) {
  if (typeof data !== "string") return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

function isSendable(data) {
  return (
    typeof data === "string" ||
    data instanceof ArrayBuffer ||
    ArrayBuffer.isView(data) ||
    (typeof Blob === "function" && data instanceof Blob)
  );
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * A WebSocket that reconnects, buffers, and calls the view's actions.
 *
 * States: "connecting" (until the first connection opens), "open",
 * "reconnecting" (waiting, or trying again), "closed" (after close(), a stop
 * code or giving up; connect() starts again).
 */
export class WsClient extends EventTarget {
  #url;
  #options;
  #state = "closed";
  #socket = null; // the current attempt or connection
  #closingSocket = null; // the connection close() is closing
  #hasOpened = false;
  #attempt = 0;
  #lastCode = null;
  #lostAt = 0;
  #generation = 0;
  #retryTimer = null;
  #giveUpTimer = null;
  #connectTimer = null;
  #buffer = [];
  #calls = new Map();
  #abandoned = new Set();
  #nextId = 1;
  #lastSeq;
  #handlers = new Map();

  /** Connect to `url` (absolute, or relative to the page) at once. */
  constructor(url, options = {}) {
    super();
    this.#options = checkOptions(options);
    this.#url = resolveUrl(url);
    this.#lastSeq = this.#options.lastSeq ?? null;
    this.#begin();
  }

  /**
   * Return a client for the route that {% ws_route "name" ... %} wrote into
   * the page. Throws Error when the page has no such route, or has it twice.
   */
  static forRoute(name, options = {}) {
    const found = [...document.querySelectorAll("script[data-wsviews-route]")].filter(
      (element) => element.getAttribute("data-wsviews-route") === name,
    );
    if (found.length !== 1) {
      throw new Error(
        found.length === 0
          ? `No WebSocket route ${JSON.stringify(name)} on this page: add {% ws_route ${JSON.stringify(name)} ... %} to the template.`
          : `WebSocket route ${JSON.stringify(name)} is on this page ${found.length} times: use new WsClient(url) for each.`,
      );
    }
    return new WsClient(JSON.parse(found[0].textContent).url, options);
  }

  /** "connecting", "open", "reconnecting" or "closed". */
  get state() {
    return this.#state;
  }

  /** The absolute URL the client connects to (without wsviews_last). */
  get url() {
    return this.#url;
  }

  /** The subprotocol the server accepted ("" for none, or while not open). */
  get protocol() {
    return this.#state === "open" ? this.#socket.protocol : "";
  }

  /** The seq of the last application message that carried one, or null. */
  get lastSeq() {
    return this.#lastSeq;
  }

  /** How many messages wait in the buffer for the next connection. */
  get buffered() {
    return this.#buffer.length;
  }

  /** Start again after close(), a stop code or giving up; does nothing otherwise. */
  connect() {
    if (this.#state === "closed") this.#begin();
  }

  /**
   * Close for good, with `code` (1000, or 3000-4999) and `reason`.
   *
   * Calls still waiting reject with WsError "closed", the buffer is
   * dropped, and no reconnect follows. A "close" event follows if a
   * connection was open. Does nothing when already closed.
   */
  close(code = 1000, reason = "") {
    if (code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw new RangeError(`A client closes with 1000 or 3000-4999, not ${code}.`);
    }
    if (this.#state === "closed") return;
    const socket = this.#socket;
    const wasOpen = this.#state === "open";
    this.#socket = null;
    this.#end();
    if (socket !== null) {
      if (wasOpen) this.#closingSocket = socket;
      socket.close(code, reason);
    }
  }

  /**
   * Send a text or binary message; while not open, buffer it for the next connection.
   *
   * Throws WsError "closed" when the client is closed, WsError "buffer_full"
   * when bufferSize messages already wait (nothing is dropped on its own),
   * TypeError for data that is not a string, ArrayBuffer, typed array or Blob.
   */
  send(data) {
    if (!isSendable(data)) {
      throw new TypeError(
        "send() takes a string, an ArrayBuffer, a typed array or a Blob; use sendJSON() for values.",
      );
    }
    this.#transmit(data, null);
  }

  /** Send `value` as JSON text; throws as send() does, and TypeError when it has no JSON form. */
  sendJSON(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`${typeof value} has no JSON form.`);
    this.#transmit(text, null);
  }

  /**
   * Call the view's action `action` with `payload`; resolve with its result.
   *
   * Rejects with CallError (the server's code, message and details) for an
   * error reply; WsError "timeout" when no reply came within `timeout` ms
   * (default callTimeout; the clock runs while the call waits in the
   * buffer, and a call that times out there is never sent); WsError
   * "disconnected" when the connection dropped after the call went out (it
   * is not sent again: the action may have run); WsError "closed" or
   * "buffer_full" as send() throws them.
   */
  call(action, payload = null, { timeout = this.#options.callTimeout } = {}) {
    return new Promise((resolve, reject) => {
      if (typeof action !== "string" || action === "") {
        throw new TypeError("call() takes the action's name, a non-empty string.");
      }
      if (!(typeof timeout === "number" && timeout >= 0)) {
        throw new TypeError(
          "call()'s timeout is a number of milliseconds >= 0 (Infinity for none).",
        );
      }
      const id = `c${this.#nextId++}`;
      const text = JSON.stringify({ action, id, payload: payload === undefined ? null : payload });
      const call = { id, action, resolve, reject, timer: null, entry: null, sent: false };
      this.#transmit(text, call);
      this.#calls.set(id, call);
      if (Number.isFinite(timeout)) {
        call.timer = setTimeout(() => this.#timedOut(call, timeout), timeout);
      }
    });
  }

  /** Call `action` without an id: no reply, and errors are only logged by the server. Throws as send() does. */
  notify(action, payload = null) {
    if (typeof action !== "string" || action === "") {
      throw new TypeError("notify() takes the action's name, a non-empty string.");
    }
    this.#transmit(
      JSON.stringify({ action, payload: payload === undefined ? null : payload }),
      null,
    );
  }

  // The connection's life -------------------------------------------------

  #begin() {
    this.#state = "connecting";
    this.#attempt = 0;
    this.#lastCode = null;
    this.#armGiveUp();
    // In a microtask, so that listeners added after the constructor or
    // connect() hear of everything, a failure of the first attempt included.
    const generation = ++this.#generation;
    queueMicrotask(() => generation === this.#generation && this.#attemptConnect());
  }

  #armGiveUp() {
    this.#lostAt = Date.now();
    clearTimeout(this.#giveUpTimer);
    this.#giveUpTimer = null;
    if (Number.isFinite(this.#options.giveUpAfter)) {
      this.#giveUpTimer = setTimeout(() => this.#giveUp(), this.#options.giveUpAfter);
    }
  }

  #attemptConnect() {
    this.#retryTimer = null;
    const generation = ++this.#generation;
    let token;
    try {
      const option = this.#options.token;
      token = typeof option === "function" ? option() : option;
    } catch (error) {
      this.#attemptFailed(error);
      return;
    }
    if (token !== null && typeof token === "object" && typeof token.then === "function") {
      token.then(
        (value) => generation === this.#generation && this.#openSocket(value),
        (error) => generation === this.#generation && this.#attemptFailed(error),
      );
    } else {
      this.#openSocket(token);
    }
  }

  #openSocket(token) {
    const protocols = [...this.#options.protocols];
    let socket;
    try {
      if (token !== null && token !== undefined && token !== "") {
        if (typeof token !== "string")
          throw new TypeError("The token function returned something other than a string.");
        protocols.push(TOKEN_PREFIX + token);
      }
      socket = new this.#options.WebSocket(this.#socketUrl(), protocols);
    } catch (error) {
      this.#attemptFailed(error);
      return;
    }
    socket.binaryType = this.#options.binaryType;
    this.#socket = socket;
    socket.addEventListener("open", () => this.#opened(socket));
    socket.addEventListener("message", (event) => this.#received(socket, event));
    socket.addEventListener("close", (event) => this.#closed(socket, event));
    if (Number.isFinite(this.#options.connectTimeout)) {
      this.#connectTimer = setTimeout(() => {
        if (socket !== this.#socket || this.#state === "open") return;
        this.#socket = null;
        socket.close();
        this.#retry(1006);
      }, this.#options.connectTimeout);
    }
  }

  #socketUrl() {
    if (!this.#options.resume || this.#lastSeq === null) return this.#url;
    const url = new URL(this.#url);
    url.searchParams.set(RESUME_PARAMETER, this.#lastSeq);
    return url.href;
  }

  #attemptFailed(error) {
    this.#dispatch(new WsErrorEvent(error));
    if (this.#state !== "closed") this.#retry(null);
  }

  #opened(socket) {
    if (socket !== this.#socket) return;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#giveUpTimer);
    this.#giveUpTimer = null;
    this.#attempt = 0;
    const reconnected = this.#hasOpened;
    this.#hasOpened = true;
    this.#state = "open";
    // What waited goes first, in order; then the page hears of the open.
    const waiting = this.#buffer;
    this.#buffer = [];
    for (const entry of waiting) {
      socket.send(entry.data);
      if (entry.call !== null) {
        entry.call.entry = null;
        entry.call.sent = true;
      }
    }
    this.#dispatch(new WsOpenEvent(reconnected, socket.protocol));
  }

  #received(socket, event) {
    if (socket !== this.#socket) return;
    const json = parseJSON(event.data);
    if (isObject(json)) {
      if (Object.hasOwn(json, "id") && typeof json.ok === "boolean") {
        const call = this.#calls.get(json.id);
        if (call !== undefined && call.sent) {
          this.#settle(call, json);
          return;
        }
        if (this.#abandoned.delete(json.id)) return; // the reply to a call that timed out
      }
      if (json.event === "wsviews.reset") {
        this.#lastSeq = null;
        this.#dispatch(new WsMessageEvent("reset", event.data, json));
        return;
      }
      if (typeof json.seq === "string") this.#lastSeq = json.seq;
    }
    this.#dispatch(new WsMessageEvent("message", event.data, json));
  }

  #closed(socket, event) {
    if (socket === this.#closingSocket) {
      this.#closingSocket = null;
      this.#dispatch(new WsCloseEvent(event.code, event.reason, event.wasClean, false));
      return;
    }
    if (socket !== this.#socket) return;
    this.#socket = null;
    clearTimeout(this.#connectTimer);
    const wasOpen = this.#state === "open";
    this.#abandoned.clear();
    for (const call of [...this.#calls.values()]) {
      if (call.sent)
        this.#fail(
          call,
          new WsError(
            "disconnected",
            `The connection dropped before "${call.action}" had its reply.`,
          ),
        );
    }
    if (!this.#options.shouldReconnect(event.code, event.reason)) {
      this.#end();
      this.#dispatch(new WsCloseEvent(event.code, event.reason, event.wasClean, false));
      return;
    }
    if (wasOpen) {
      this.#state = "reconnecting";
      this.#armGiveUp();
      this.#dispatch(new WsCloseEvent(event.code, event.reason, event.wasClean, true));
      if (this.#state !== "reconnecting") return; // a listener closed the client
    }
    this.#retry(event.code);
  }

  #retry(code) {
    this.#lastCode = code;
    this.#state = "reconnecting";
    const delay = backoffDelay(this.#attempt, this.#options, this.#options.random);
    this.#attempt += 1;
    this.#retryTimer = setTimeout(() => this.#attemptConnect(), delay);
    this.#dispatch(new WsReconnectingEvent(this.#attempt, delay, code));
  }

  #giveUp() {
    this.#giveUpTimer = null;
    if (this.#state === "open" || this.#state === "closed") return;
    const socket = this.#socket;
    this.#socket = null;
    if (socket !== null) socket.close();
    this.#end();
    this.#dispatch(new WsGiveUpEvent(this.#attempt, Date.now() - this.#lostAt, this.#lastCode));
  }

  /** Enter "closed": no timer left, every call rejected, the buffer dropped. */
  #end() {
    this.#state = "closed";
    this.#generation += 1;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#giveUpTimer);
    clearTimeout(this.#connectTimer);
    this.#retryTimer = this.#giveUpTimer = this.#connectTimer = null;
    this.#buffer = [];
    this.#abandoned.clear();
    for (const call of [...this.#calls.values()]) {
      this.#fail(
        call,
        new WsError("closed", `The client closed before "${call.action}" had its reply.`),
      );
    }
  }

  // Messages and calls ------------------------------------------------------

  #transmit(data, call) {
    if (this.#state === "closed") {
      throw new WsError("closed", "The client is closed: call connect() to start again.");
    }
    const socket = this.#socket;
    if (this.#state === "open" && socket !== null && socket.readyState === OPEN) {
      socket.send(data);
      if (call !== null) call.sent = true;
      return;
    }
    if (this.#buffer.length >= this.#options.bufferSize) {
      throw new WsError(
        "buffer_full",
        `${this.#buffer.length} messages already wait for the connection (bufferSize).`,
      );
    }
    const entry = { data, call };
    this.#buffer.push(entry);
    if (call !== null) call.entry = entry;
  }

  #settle(call, reply) {
    clearTimeout(call.timer);
    this.#calls.delete(call.id);
    if (reply.ok) {
      call.resolve(reply.result === undefined ? null : reply.result);
      return;
    }
    const error = isObject(reply.error) ? reply.error : {};
    call.reject(
      new CallError(
        typeof error.code === "string" ? error.code : "error",
        typeof error.message === "string" ? error.message : `"${call.action}" failed.`,
        error.details,
      ),
    );
  }

  #timedOut(call, timeout) {
    if (this.#calls.get(call.id) !== call) return;
    this.#calls.delete(call.id);
    if (call.entry !== null) {
      this.#buffer.splice(this.#buffer.indexOf(call.entry), 1);
    } else if (call.sent) {
      this.#abandoned.add(call.id);
      if (this.#abandoned.size > MAX_ABANDONED) {
        this.#abandoned.delete(this.#abandoned.values().next().value);
      }
    }
    call.reject(new WsError("timeout", `No reply to "${call.action}" within ${timeout} ms.`));
  }

  #fail(call, error) {
    clearTimeout(call.timer);
    this.#calls.delete(call.id);
    call.reject(error);
  }

  // Events -------------------------------------------------------------------

  #dispatch(event) {
    this.dispatchEvent(event);
  }

  #handler(type) {
    return this.#handlers.get(type)?.handler ?? null;
  }

  #setHandler(type, handler) {
    const previous = this.#handlers.get(type);
    if (previous !== undefined) this.removeEventListener(type, previous.listener);
    this.#handlers.delete(type);
    if (typeof handler === "function") {
      const listener = (event) => handler.call(this, event);
      this.#handlers.set(type, { handler, listener });
      this.addEventListener(type, listener);
    }
  }

  get onopen() {
    return this.#handler("open");
  }
  set onopen(handler) {
    this.#setHandler("open", handler);
  }
  get onmessage() {
    return this.#handler("message");
  }
  set onmessage(handler) {
    this.#setHandler("message", handler);
  }
  get onclose() {
    return this.#handler("close");
  }
  set onclose(handler) {
    this.#setHandler("close", handler);
  }
  get onreconnecting() {
    return this.#handler("reconnecting");
  }
  set onreconnecting(handler) {
    this.#setHandler("reconnecting", handler);
  }
  get ongiveup() {
    return this.#handler("giveup");
  }
  set ongiveup(handler) {
    this.#setHandler("giveup", handler);
  }
  get onreset() {
    return this.#handler("reset");
  }
  set onreset(handler) {
    this.#setHandler("reset", handler);
  }
  get onerror() {
    return this.#handler("error");
  }
  set onerror(handler) {
    this.#setHandler("error", handler);
  }
}

/**
 * The members of one presence group, kept from the server's presence events.
 *
 * Feed it every message's JSON: `presence.apply(event.json)`. A
 * "wsviews.presence_state" of its group replaces the members, a
 * "wsviews.presence_diff" removes its leaves and adds its joins; either
 * dispatches "change". `members` maps each key ("user:<pk>" or
 * "conn:<id>") to `{connections: {<connection id>: metadata}}`.
 */
export class Presence extends EventTarget {
  constructor(group) {
    super();
    this.group = group;
    this.members = new Map();
  }

  /** Apply `message` if it is a presence event of this group; return whether it was. */
  apply(message) {
    if (!isObject(message) || message.group !== this.group) return false;
    if (message.event === "wsviews.presence_state") {
      this.members = new Map(Object.entries(isObject(message.members) ? message.members : {}));
    } else if (message.event === "wsviews.presence_diff") {
      for (const key of Object.keys(isObject(message.leaves) ? message.leaves : {})) {
        this.members.delete(key);
      }
      for (const [key, member] of Object.entries(isObject(message.joins) ? message.joins : {})) {
        this.members.set(key, member);
      }
    } else {
      return false;
    }
    this.dispatchEvent(new Event("change"));
    return true;
  }
}
