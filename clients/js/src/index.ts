// @heraldpush/client: a client for Herald's WebSocket protocol (docs/protocol.md).
// It reconnects with jittered exponential backoff, resumes after the last
// message it processed, drops repeats by seq, acks what was processed, keeps
// the connection alive with application pings, and emits messages in order.
// Topics: subscribe() (or options.topics) subscribes on every connection,
// each topic resumed from the last seq emitted; broadcasts come as "pub"
// events of topic "*".
// Transports: WebSocket first; where WebSocket upgrades fail twice without
// ever opening (a proxy that breaks them), Server-Sent Events for the rest
// of the page's life (herald-eventstream.ts), with the same guarantees.
// No runtime dependencies: in browsers it uses the global WebSocket and
// fetch; in Node pass the `ws` package as options.WebSocket.

import { EventStreamSocket } from "./herald-eventstream.js";

/** A message as the application sees it. */
export interface Message {
  id: string;
  seq: number;
  /** When Herald accepted it, ms since the Unix epoch. */
  ts: number;
  topic?: string;
  payload: unknown;
}

/** A message of a topic, or a broadcast (topic "*"). seq counts per topic. */
export interface Pub {
  topic: string;
  id: string;
  seq: number;
  ts: number;
  payload: unknown;
}

/** The topic of broadcasts. */
export const BROADCAST = "*";

/** A topic the server refused: code is invalid, forbidden, unavailable or too_many. */
export interface SubRefused {
  topic: string;
  code: string;
  message: string;
}

/** A user joining a topic (their first subscription anywhere in the
 * cluster) or leaving it (their last one ended), in a namespace with
 * join_leave. device: the joining connection's, or the last one's. */
export interface PresenceChange {
  topic: string;
  user: string;
  device?: string;
}

/** The answer to presence(): the users subscribed, at most 1,000 (more:
 * there are others). */
export interface PresenceAnswer {
  users: string[];
  more: boolean;
}

/** A presence query the server refused (code forbidden or unavailable), or
 * one whose connection ended first (code not_connected). */
export class PresenceError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "PresenceError";
  }
}

/** A device's push registration, as the server takes it: how Herald wakes
 * this device when it is offline. A browser's is made by enableWebPush(). */
export interface PushRegistration {
  provider: "webpush" | "fcm" | "apns";
  /** webpush: the browser's PushSubscription (its toJSON()). */
  subscription?: { endpoint: string; keys: { p256dh: string; auth: string } };
  /** fcm, apns: the device token; apns: the app's bundle ID as topic, and
   * environment production (default) or sandbox. */
  token?: string;
  topic?: string;
  environment?: "production" | "sandbox";
  /** Topics whose messages (sent with a notification) are pushed to the
   * device while it is offline; the token must allow each. */
  topics?: string[];
}

/** A push registration the server refused (code invalid, forbidden or
 * unavailable), or one whose connection ended first (not_connected). */
export class PushError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "PushError";
  }
}

/** What enableWebPush needs of a service worker registration (the
 * browser's ServiceWorkerRegistration has it). */
export interface PushManagerHolder {
  pushManager: {
    getSubscription(): Promise<{ toJSON(): any; unsubscribe(): Promise<boolean> } | null>;
    subscribe(options: { userVisibleOnly: boolean; applicationServerKey: Uint8Array | string }): Promise<{ toJSON(): any }>;
  };
}

export interface WebPushOptions {
  /** The page's service worker registration (navigator.serviceWorker.register(...)). */
  serviceWorker: PushManagerHolder;
  /** The server's VAPID public key; default: fetched from vapidKeyURL. */
  vapidKey?: string;
  /** Where the key is (default: GET /v1/push/vapid-key on the url's host,
   * as herald all serves it; a cluster's collect address otherwise). */
  vapidKeyURL?: string;
  /** Topics whose messages are pushed to this browser while it is offline. */
  topics?: string[];
}

/** The server's first frame on each connection. */
export interface Hello {
  user: string;
  conn: string;
  node: string;
  seq: number;
  /** The stream seq counts in: when it changes, the store was wiped. */
  epoch?: string;
  /** Set when messages the client asked for were removed by retention. */
  gap?: boolean;
  oldest?: number;
  /** The newest broadcast's seq. */
  broadcast_seq?: number;
}

/** The minimal WebSocket surface the client needs (browser or `ws`). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
}
export type SocketConstructor = new (url: string) => SocketLike;

/** How the client reaches the server: a WebSocket, or Server-Sent Events
 * with the client's frames POSTed back. */
export type Transport = "websocket" | "sse";

/** Server URLs where WebSocket upgrades failed twice without opening: every
 * client of the page goes straight to Server-Sent Events there. */
const websocketBroken = new Set<string>();

export interface Options {
  /** Base URL of a push node or its load balancer: ws://host:port or
   * wss://host:port (http:// and https:// are taken as the same). */
  url: string;
  /** The transports to use, in order of preference (default: both,
   * WebSocket first). With both, the client moves to Server-Sent Events
   * after two WebSocket upgrades in a row failed without opening, and
   * stays there for the page's life. ["sse"] uses only Server-Sent Events. */
  transports?: Transport[];
  /** A fixed token, or a function asked for a fresh one before every connection. */
  token?: string;
  getToken?: () => Promise<string> | string;
  /** Stable ID of this browser or app install: the server remembers its acks. */
  device?: string;
  /** Start after this seq (default: the device's last ack, or now). */
  since?: number;
  /** Topics to subscribe to on every connection (subscribe() adds more).
   * The token's topics claim, or the server's subscribe proxy, must allow them. */
  topics?: string[];
  /** A topic subscribed for the first time starts at its last value (its
   * newest message, in a namespace with last_value) instead of at now. */
  lastValue?: boolean;
  /** Be told of recalled messages ("recall" events): the server sends a
   * recall frame when a message this client may have is recalled. */
  recall?: boolean;
  /** WebSocket implementation; defaults to globalThis.WebSocket. Not
   * needed with transports: ["sse"]. */
  WebSocket?: SocketConstructor;
  /** First reconnect delay (default 250 ms); each reconnect doubles it (with
   * full jitter) up to maxBackoffMs (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A connection that ends within this long of its hello (default 5 s) does
   * not reset the backoff: a server, proxy or message that ends every
   * connection at once must not become a reconnect loop. */
  stableAfterMs?: number;
  pingIntervalMs?: number;
}

/** A message recalled after it was sent: seq in its stream (the user's,
 * or topic's; topic "*": a broadcast). The app may take it off the screen. */
export interface Recall {
  id: string;
  seq: number;
  topic?: string;
}

export interface Disconnect {
  code: number;
  reason: string;
}

type Events = {
  message: Message;
  pub: Pub;
  subRefused: SubRefused;
  connected: Hello;
  disconnected: Disconnect;
  gap: { oldest: number };
  join: PresenceChange;
  leave: PresenceChange;
  recall: Recall;
  error: Error;
};

/** Close codes worth knowing (docs/protocol.md lists them all). Both mean
 * "reconnect and resume", which the client does by itself. A refused token
 * never reaches the socket: the upgrade fails with HTTP 401, which browsers
 * report as 1006. */
export const CLOSE_NODE_RESTART = 1012;
export const CLOSE_SLOW_CONSUMER = 4000;
/** The token expired and no new one came in time; with getToken the client
 * asks for a new token before reconnecting. */
export const CLOSE_TOKEN_EXPIRED = 4001;
/** The application disconnected the user; tokens issued before are refused,
 * so only a new token from getToken lets the client back in. */
export const CLOSE_REVOKED = 4003;

export class HeraldClient {
  private readonly opts: Required<Pick<Options, "minBackoffMs" | "maxBackoffMs" | "stableAfterMs" | "pingIntervalMs">> & Options;
  private readonly WS: SocketConstructor | undefined;
  private readonly transports: Transport[];
  private _transport: Transport;
  /** WebSocket attempts in a row that closed without opening. */
  private wsFailures = 0;
  private listeners: { [K in keyof Events]?: Array<(e: Events[K]) => void> } = {};
  private socket: SocketLike | null = null;
  private backoff: number;
  private closed = false;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private _lastSeq: number;
  /** The epoch _lastSeq counts in, from the last hello; undefined: unknown. */
  private epoch: string | undefined;
  /** Subscribed topics (and the broadcasts): the last seq emitted, or
   * undefined until one is known. */
  private topics = new Map<string, number | undefined>([[BROADCAST, undefined]]);
  /** Presence queries waiting for their answer, by ID. */
  private queries = new Map<string, { resolve: (a: PresenceAnswer) => void; reject: (e: Error) => void }>();
  private queryID = 0;
  /** Push registrations waiting for their answer, by ID. */
  private pushQueries = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  /** The connection that has said hello: presence() asks on it. */
  private ready: SocketLike | null = null;

  constructor(options: Options) {
    if (!options.url) throw new Error("@heraldpush/client: url is required");
    if (!options.token && !options.getToken) throw new Error("@heraldpush/client: token or getToken is required");
    this.opts = { minBackoffMs: 250, maxBackoffMs: 30_000, stableAfterMs: 5_000, pingIntervalMs: 20_000, ...options };
    this.transports = options.transports?.length ? options.transports : ["websocket", "sse"];
    if (this.transports.some((t) => t !== "websocket" && t !== "sse")) throw new Error('@heraldpush/client: transports are "websocket" and "sse"');
    this.WS = options.WebSocket ?? (globalThis as any).WebSocket;
    if (!this.WS && !this.transports.includes("sse")) {
      throw new Error("@heraldpush/client: no WebSocket implementation; pass options.WebSocket (the `ws` package in Node)");
    }
    this._transport = this.pickTransport();
    this.backoff = this.opts.minBackoffMs;
    this._lastSeq = options.since ?? 0;
    for (const t of options.topics ?? []) this.topics.set(t, undefined);
  }

  /** Subscribes to topics now (when connected) and on every connection
   * after. Topic messages come as "pub" events, refusals as "subRefused". */
  subscribe(...topics: string[]): void {
    const add = topics.filter((t) => !this.topics.has(t));
    for (const t of add) this.topics.set(t, undefined);
    if (add.length && this.socket?.readyState === 1) {
      const f: Record<string, unknown> = { type: "sub", topics: add };
      if (this.opts.lastValue) f.last = true;
      this.socket.send(JSON.stringify(f));
    }
  }

  /** Drops topics. */
  unsubscribe(...topics: string[]): void {
    for (const t of topics) if (t !== BROADCAST) this.topics.delete(t);
    if (topics.length && this.socket?.readyState === 1) this.socket.send(JSON.stringify({ type: "unsub", topics }));
  }

  /** Asks who is subscribed to topic, a topic this client is subscribed to
   * in a namespace with client_presence. Rejects with a PresenceError when
   * the server refuses or the connection ends before the answer. */
  presence(topic: string): Promise<PresenceAnswer> {
    const ws = this.ready;
    if (!ws || ws.readyState !== 1) return Promise.reject(new PresenceError("not_connected", "not connected"));
    const id = String(++this.queryID);
    return new Promise((resolve, reject) => {
      this.queries.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: "presence", id, topic }));
    });
  }

  /** Registers this client's device (options.device) for offline pushes:
   * while it has no connection, messages sent with a notification reach it
   * through its push service. Resolves once the server stored it; rejects
   * with a PushError when it refuses or the connection ends first. */
  registerPush(registration: PushRegistration): Promise<void> {
    return this.askPush({ type: "push_register", registration });
  }

  /** Removes this device's push registration. */
  unregisterPush(): Promise<void> {
    return this.askPush({ type: "push_unregister" });
  }

  private askPush(frame: object): Promise<void> {
    const ws = this.ready;
    if (!ws || ws.readyState !== 1) return Promise.reject(new PushError("not_connected", "not connected"));
    const id = "p" + ++this.queryID;
    return new Promise((resolve, reject) => {
      this.pushQueries.set(id, { resolve, reject });
      ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  private pushAnswered(f: any): void {
    const q = this.pushQueries.get(String(f.id));
    if (!q) return;
    this.pushQueries.delete(String(f.id));
    if (f.type === "push_refused") q.reject(new PushError(f.code, f.message ?? f.code));
    else q.resolve();
  }

  /** In a browser: subscribes it to Web Push for the server's VAPID key
   * (reusing the subscription it has) and registers the subscription for
   * this device. The page's service worker shows what comes (the payload
   * is JSON: title, body, data, id, seq, collapse_key, topic). Resolves
   * with the subscription's JSON. */
  async enableWebPush(options: WebPushOptions): Promise<PushRegistration["subscription"]> {
    const pm = options.serviceWorker.pushManager;
    let sub: { toJSON(): any } | null = await pm.getSubscription();
    if (!sub) {
      const key = options.vapidKey ?? (await this.vapidKey(options.vapidKeyURL));
      sub = await pm.subscribe({ userVisibleOnly: true, applicationServerKey: base64urlBytes(key) });
    }
    const json = sub.toJSON();
    const subscription = { endpoint: json.endpoint, keys: { p256dh: json.keys?.p256dh, auth: json.keys?.auth } };
    await this.registerPush({ provider: "webpush", subscription, topics: options.topics });
    return subscription;
  }

  /** Removes this device's registration and the browser's subscription. */
  async disableWebPush(serviceWorker: PushManagerHolder): Promise<void> {
    await this.unregisterPush();
    const sub = await serviceWorker.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
  }

  private async vapidKey(url?: string): Promise<string> {
    const u = url ?? this.opts.url.replace(/^ws/, "http").replace(/\/+$/, "") + "/v1/push/vapid-key";
    const r = await fetch(u);
    if (!r.ok) throw new PushError("unavailable", `${u}: ${r.status}`);
    const { public_key } = await r.json();
    return public_key;
  }

  private answered(f: any): void {
    const q = this.queries.get(String(f.id));
    if (!q) return;
    this.queries.delete(String(f.id));
    if (f.code) q.reject(new PresenceError(f.code, f.message ?? f.code));
    else q.resolve({ users: Array.isArray(f.users) ? f.users : [], more: !!f.more });
  }

  /** Join, leave and presence_changes frames, as a join or leave event each. */
  private presenceChanges(f: any): void {
    const one = (kind: "join" | "leave", w: any) => {
      const c: PresenceChange = { topic: f.topic, user: w.user };
      if (w.device) c.device = w.device;
      this.emit(kind, c);
    };
    if (f.type === "join" || f.type === "leave") one(f.type, f);
    else {
      for (const w of f.joins ?? []) one("join", w);
      for (const w of f.leaves ?? []) one("leave", w);
    }
  }

  /** Subscribes a new connection to every topic, each from the last seq
   * seen: the server replays what was missed. */
  private resubscribe(ws: SocketLike): void {
    const topics: string[] = [];
    const since: Record<string, number> = {};
    for (const [t, last] of this.topics) {
      if (t === BROADCAST) continue;
      topics.push(t);
      if (last !== undefined) since[t] = last;
    }
    for (let i = 0; i < topics.length; i += 100) {
      const f: Record<string, unknown> = { type: "sub", topics: topics.slice(i, i + 100), since };
      if (this.opts.lastValue) f.last = true; // the server uses it only where no since is given
      ws.send(JSON.stringify(f));
    }
  }

  private handlePub(f: any): void {
    if (!this.topics.has(f.topic) || typeof f.seq !== "number") return; // unsubscribed meanwhile
    const last = this.topics.get(f.topic);
    if (last !== undefined && f.seq <= last) return; // a repeat: already processed
    this.topics.set(f.topic, f.seq);
    this.emit("pub", { topic: f.topic, id: f.id, seq: f.seq, ts: f.ts, payload: f.payload });
  }

  /** The transport of the current (or next) connection. */
  get transport(): Transport {
    return this._transport;
  }

  private pickTransport(): Transport {
    if (!this.transports.includes("sse")) return "websocket";
    if (!this.transports.includes("websocket") || !this.WS) return "sse";
    return websocketBroken.has(this.wsURL()) ? "sse" : this.transports[0];
  }

  private wsURL(): string {
    return this.opts.url.replace(/^http/, "ws");
  }

  /** The seq of the last message emitted. */
  get lastSeq(): number {
    return this._lastSeq;
  }

  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): () => void {
    const list = (this.listeners[event] ??= []) as Array<(e: Events[K]) => void>;
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  private emit<K extends keyof Events>(event: K, e: Events[K]): void {
    for (const fn of (this.listeners[event] ?? []) as Array<(e: Events[K]) => void>) fn(e);
  }

  /** Connects, and keeps reconnecting until close(). */
  connect(): void {
    this.closed = false;
    void this.open();
  }

  /** Closes the connection for good. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stopPing();
    this.socket?.close(1000, "bye");
    this.socket = null;
  }

  private async open(): Promise<void> {
    let token: string;
    try {
      token = this.opts.getToken ? await this.opts.getToken() : this.opts.token!;
    } catch (err) {
      this.emit("error", err instanceof Error ? err : new Error(String(err)));
      this.retry();
      return;
    }
    if (this.closed) return;
    const q = new URLSearchParams({ token });
    if (this.opts.device) q.set("device", this.opts.device);
    if (this.opts.recall) q.set("recall", "true");
    if (this._lastSeq > 0) {
      q.set("since", String(this._lastSeq));
      // Another epoch's since: the server replays the new stream whole.
      if (this.epoch) q.set("epoch", this.epoch);
    }
    const b = this.topics.get(BROADCAST);
    if (b !== undefined) q.set("broadcast_since", String(b));
    const transport = (this._transport = this.pickTransport());
    const ws: SocketLike =
      transport === "sse"
        ? new EventStreamSocket(this.wsURL().replace(/^ws/, "http"), q, token)
        : new this.WS!(`${this.wsURL()}/ws?${q}`);
    this.socket = ws;
    let helloAt = 0; // when this connection's hello came; 0: not yet
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (ev) => {
      let f: any;
      try {
        f = JSON.parse(typeof ev.data === "string" ? ev.data : String(ev.data));
      } catch {
        return; // not ours to judge: ignore what this version cannot read
      }
      if (f.type === "hello") {
        helloAt = Date.now();
        this.restart(f);
        this.startPing(ws);
        if (this.topics.get(BROADCAST) === undefined) this.topics.set(BROADCAST, f.broadcast_seq ?? 0);
        this.ready = ws;
        this.emit("connected", f as Hello);
        if (f.gap) this.emit("gap", { oldest: f.oldest ?? 0 });
        this.resubscribe(ws);
      } else if (f.type === "msg") {
        this.handle(ws, f);
      } else if (f.type === "pub") {
        this.handlePub(f);
      } else if (f.type === "subscribed") {
        // The topic's stream starts at the server's seq when no since was given.
        // Or its newest seq is below the last one emitted: the store was
        // wiped and its seqs began again, and the old position would drop
        // every new message.
        const last = this.topics.get(f.topic);
        if (this.topics.has(f.topic) && !f.already && (last === undefined || f.seq < last)) this.topics.set(f.topic, f.seq);
      } else if (f.type === "sub_refused") {
        this.topics.delete(f.topic);
        this.emit("subRefused", { topic: f.topic, code: f.code, message: f.message });
      } else if (f.type === "presence") {
        this.answered(f);
      } else if (f.type === "recall") {
        const r: Recall = { id: f.id, seq: f.seq };
        if (f.topic) r.topic = f.topic;
        this.emit("recall", r);
      } else if (f.type === "push_registered" || f.type === "push_unregistered" || f.type === "push_refused") {
        this.pushAnswered(f);
      } else if (f.type === "join" || f.type === "leave" || f.type === "presence_changes") {
        this.presenceChanges(f);
      } else if (f.type === "refresh") {
        void this.refresh(ws);
      }
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (transport === "websocket") {
        // Two upgrades in a row that never opened: something on the way
        // breaks WebSocket; Server-Sent Events from now on.
        this.wsFailures = opened ? 0 : this.wsFailures + 1;
        if (this.wsFailures >= 2) websocketBroken.add(this.wsURL());
      }
      this.stopPing();
      if (this.socket === ws) this.socket = null;
      if (this.ready === ws) {
        this.ready = null;
        for (const q of this.queries.values()) q.reject(new PresenceError("not_connected", "the connection closed before the answer"));
        this.queries.clear();
        for (const q of this.pushQueries.values()) q.reject(new PushError("not_connected", "the connection closed before the answer"));
        this.pushQueries.clear();
      }
      this.emit("disconnected", { code: ev.code, reason: ev.reason });
      // Only a connection that stayed up a while starts the backoff over;
      // one closed soon after it opened (a proxy that cuts WebSockets, a
      // frame the browser refuses) or never opened keeps it growing.
      if (helloAt > 0 && Date.now() - helloAt >= this.opts.stableAfterMs) this.backoff = this.opts.minBackoffMs;
      this.retry();
    };
  }

  /** Forgets the positions of a stream the store no longer has: a hello in
   * another epoch than the last one, or whose newest seq is below the last
   * message emitted (the store was wiped, or restored from a backup), starts
   * the user's stream over, else every new message would be dropped as a
   * repeat until its seqs passed the old ones (docs/protocol.md, "Epochs"). */
  private restart(h: any): void {
    const epoch = typeof h.epoch === "string" && h.epoch !== "" ? h.epoch : undefined;
    if ((epoch !== undefined && this.epoch !== undefined && epoch !== this.epoch) || (typeof h.seq === "number" && h.seq < this._lastSeq)) {
      this._lastSeq = 0;
    }
    if (epoch !== undefined) this.epoch = epoch;
    const b = this.topics.get(BROADCAST);
    if (b !== undefined && typeof h.broadcast_seq === "number" && h.broadcast_seq < b) this.topics.set(BROADCAST, h.broadcast_seq);
  }

  /** The token expires soon: send a fresh one from getToken on the open
   * connection. With a fixed token there is none to send; the server closes
   * the connection at expiry (4001) and the reconnect is refused. */
  private async refresh(ws: SocketLike): Promise<void> {
    if (!this.opts.getToken) return;
    try {
      const token = await this.opts.getToken();
      if (token && ws.readyState === 1) ws.send(JSON.stringify({ type: "refresh", token }));
    } catch (e) {
      this.emit("error", e instanceof Error ? e : new Error(String(e)));
    }
  }

  private handle(ws: SocketLike, f: any): void {
    if (typeof f.seq !== "number" || f.seq <= this._lastSeq) return; // a repeat: already processed
    this._lastSeq = f.seq;
    const m: Message = { id: f.id, seq: f.seq, ts: f.ts, payload: f.payload };
    if (f.topic) m.topic = f.topic;
    this.emit("message", m);
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ack", seq: f.seq }));
  }

  private retry(): void {
    if (this.closed) return;
    // Full jitter, so a node restart does not become a reconnect storm.
    const delay = Math.random() * this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs);
    this.retryTimer = setTimeout(() => void this.open(), delay);
  }

  private startPing(ws: SocketLike): void {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" }));
    }, this.opts.pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** For tests: drop the current connection as a network failure would. */
  dropConnection(): void {
    (this.socket as any)?.terminate?.() ?? this.socket?.close(4999, "test");
  }
}

/** The bytes of a base64url string (a VAPID key, as PushManager takes it). */
function base64urlBytes(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
