/**
 * Types of wsviews.js, the browser client of django-wsviews (docs/javascript.rst).
 */

/** The subprotocol a WsClient offers by default. */
export const PROTOCOL: "wsviews.v1";
/** The prefix of the subprotocol that carries a token ("bearer.<token>"). */
export const TOKEN_PREFIX: "bearer.";
/** The query parameter that asks the server to resume after a seq. */
export const RESUME_PARAMETER: "wsviews_last";
/** Close codes after which the client reconnects. */
export const RETRY_CODES: readonly number[];
/** Close codes after which the client stops. */
export const STOP_CODES: readonly number[];
/** The event types a WsClient dispatches. */
export const EVENT_TYPES: readonly WsEventType[];

export type WsState = "connecting" | "open" | "reconnecting" | "closed";

export type WsEventType =
  "open" | "message" | "close" | "reconnecting" | "giveup" | "reset" | "error";

/** A token, or a function called before each connection attempt that returns one. */
export type WsToken =
  string | null | (() => string | null | undefined | PromiseLike<string | null | undefined>);

export interface WsClientOptions {
  /** The subprotocols to offer, in order of preference (default none; PROTOCOL, "wsviews.v1", to check the server speaks it); a token is offered after them. */
  protocols?: readonly string[];
  /** Offered as "bearer.<token>" (default null: no token). */
  token?: WsToken;
  /** Milliseconds: the backoff's first ceiling (default 500). */
  minDelay?: number;
  /** Milliseconds: the backoff's largest ceiling (default 30000). */
  maxDelay?: number;
  /** The ceiling's growth per attempt (default 2). */
  factor?: number;
  /** Milliseconds without an open connection before giving up (default 300000; Infinity: never). */
  giveUpAfter?: number;
  /** Milliseconds an attempt may take to open (default 10000; Infinity: no limit). */
  connectTimeout?: number;
  /** Messages (and calls) kept while disconnected (default 100; past it, send() throws). */
  bufferSize?: number;
  /** Milliseconds a call waits for its reply (default 10000; Infinity: forever). */
  callTimeout?: number;
  /** Send wsviews_last=<seq> when connecting after application messages with a seq (default true). */
  resume?: boolean;
  /** The seq to resume after on the first connection (default null). */
  lastSeq?: string | null;
  /** Whether to reconnect after a close with this code (default: the module's shouldReconnect). */
  shouldReconnect?: ((code: number, reason: string) => boolean) | null;
  /** A function returning a number in [0, 1), for the jitter (default Math.random). */
  random?: (() => number) | null;
  /** How binary messages arrive (default "blob"). */
  binaryType?: BinaryType;
  /** The WebSocket constructor (default globalThis.WebSocket). */
  WebSocket?: (new (url: string, protocols?: string | string[]) => WebSocket) | null;
}

/** The options with their defaults. */
export const DEFAULTS: Readonly<Required<WsClientOptions>>;

/** A failure on the client's side. */
export class WsError extends Error {
  constructor(code: string, message: string, details?: unknown);
  /** "closed", "buffer_full", "timeout", "disconnected", or the server's code for a CallError. */
  readonly code: string;
  readonly details: unknown;
}

/** The server's error reply to a call. */
export class CallError extends WsError {}

export class WsOpenEvent extends Event {
  readonly type: "open";
  /** False for the client's first connection, true after. */
  readonly reconnected: boolean;
  /** The subprotocol the server accepted ("" for none). */
  readonly protocol: string;
}

export class WsMessageEvent extends Event {
  readonly type: "message" | "reset";
  /** The message as received: a string, or a Blob or ArrayBuffer for a binary frame. */
  readonly data: string | Blob | ArrayBuffer;
  /** The parsed JSON; undefined when the frame is binary or not JSON. */
  readonly json: unknown;
}

export class WsCloseEvent extends Event {
  readonly type: "close";
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  /** Whether the client will try again. */
  readonly willReconnect: boolean;
}

export class WsReconnectingEvent extends Event {
  readonly type: "reconnecting";
  /** The number of the attempt about to start, from 1. */
  readonly attempt: number;
  /** Milliseconds until it starts. */
  readonly delay: number;
  /** The close code that ended the last connection or attempt; null when it could not start. */
  readonly code: number | null;
}

export class WsGiveUpEvent extends Event {
  readonly type: "giveup";
  /** Attempts made since the connection was lost. */
  readonly attempts: number;
  /** Milliseconds since the connection was lost. */
  readonly elapsed: number;
  /** The close code of the last attempt, or null. */
  readonly code: number | null;
}

export class WsErrorEvent extends Event {
  readonly type: "error";
  /** What the token function threw, or why the WebSocket could not be made. */
  readonly error: unknown;
}

export interface WsClientEventMap {
  open: WsOpenEvent;
  message: WsMessageEvent;
  close: WsCloseEvent;
  reconnecting: WsReconnectingEvent;
  giveup: WsGiveUpEvent;
  reset: WsMessageEvent;
  error: WsErrorEvent;
}

export interface CallOptions {
  /** Milliseconds to wait for the reply (default: the client's callTimeout). */
  timeout?: number;
}

export class WsClient extends EventTarget {
  /** Connect to `url` (absolute, or relative to the page) at once. */
  constructor(url: string | URL, options?: WsClientOptions);
  /** A client for the route {% ws_route "name" %} wrote into the page. */
  static forRoute(name: string, options?: WsClientOptions): WsClient;

  readonly state: WsState;
  /** The absolute URL connected to (without wsviews_last). */
  readonly url: string;
  /** The accepted subprotocol ("" for none, or while not open). */
  readonly protocol: string;
  /** The seq of the last application message that carried one. */
  readonly lastSeq: string | null;
  /** How many messages wait for the next connection. */
  readonly buffered: number;

  /** Start again after close(), a stop code or giving up. */
  connect(): void;
  /** Close for good. */
  close(code?: number, reason?: string): void;
  /** Send now, or buffer while not open. */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void;
  /** Send a value as JSON. */
  sendJSON(value: unknown): void;
  /** Call an action; resolve with its result. */
  call<Result = unknown>(action: string, payload?: unknown, options?: CallOptions): Promise<Result>;
  /** Call an action without waiting for a reply. */
  notify(action: string, payload?: unknown): void;

  onopen: ((this: WsClient, event: WsOpenEvent) => unknown) | null;
  onmessage: ((this: WsClient, event: WsMessageEvent) => unknown) | null;
  onclose: ((this: WsClient, event: WsCloseEvent) => unknown) | null;
  onreconnecting: ((this: WsClient, event: WsReconnectingEvent) => unknown) | null;
  ongiveup: ((this: WsClient, event: WsGiveUpEvent) => unknown) | null;
  onreset: ((this: WsClient, event: WsMessageEvent) => unknown) | null;
  onerror: ((this: WsClient, event: WsErrorEvent) => unknown) | null;

  addEventListener<K extends keyof WsClientEventMap>(
    type: K,
    listener: (this: WsClient, event: WsClientEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof WsClientEventMap>(
    type: K,
    listener: (this: WsClient, event: WsClientEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Whether a connection closed with `code` should be retried. */
export function shouldReconnect(code: number): boolean;
/** The full-jitter delay before attempt `attempt` (0 for the first), in milliseconds. */
export function backoffDelay(
  attempt: number,
  options?: Pick<WsClientOptions, "minDelay" | "maxDelay" | "factor">,
  random?: () => number,
): number;
/** The absolute ws:// or wss:// form of `url`, resolved against `base` (the page). */
export function resolveUrl(url: string | URL, base?: string): string;

/** One member of a presence group: its connections' metadata, by connection id. */
export interface PresenceMember {
  connections: Record<string, Record<string, unknown>>;
}

/** The members of one presence group, kept from "wsviews.presence_state" and "wsviews.presence_diff". */
export class Presence extends EventTarget {
  constructor(group: string);
  readonly group: string;
  /** Members by key: "user:<pk>" or "conn:<connection id>". */
  members: Map<string, PresenceMember>;
  /** Apply `message` if it is a presence event of this group (then "change" fires); return whether it was. */
  apply(message: unknown): boolean;
}
