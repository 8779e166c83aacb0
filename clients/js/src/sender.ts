// @heraldpush/client/sender: the sender SDK for Node back ends (and any
// runtime with fetch and Web Crypto): what the Go sender/ does, in
// TypeScript. Every call is safe to retry, and is retried: each request
// carries an Idempotency-Key (the caller's, or one made up for the call),
// so a retry after a timeout, a dropped connection or a 503, to the same
// collect instance or the next, stores nothing twice and returns the first
// answer. A resolved send means the message is on disk.

/** What a push service shows on a device that is woken (docs/push-notifications.md). */
export interface Notification {
  title?: string;
  body?: string;
  data?: Record<string, unknown>;
  collapseKey?: string;
  ttlSeconds?: number;
  priority?: "normal" | "high";
}

/** A message's optional parts (docs/api.md, POST /v1/messages). */
export interface MessageOptions {
  /** The message expires this long after it goes out (seconds), or at expiresAt. */
  ttlSeconds?: number;
  expiresAt?: Date | number;
  /** A newer message of the stream with the same key supersedes this one for replays. */
  collapseKey?: string;
  /** Schedule it: stored now, delivered then. */
  deliverAt?: Date | number;
  /** Pushed to recipients' registered devices that do not get the message. */
  notification?: Notification;
  push?: "if_not_acked" | "if_offline" | "always" | "never";
}

/** A message to users. */
export interface Message extends MessageOptions {
  users: string[];
  /** Any JSON value but null. */
  payload: unknown;
  topic?: string;
}

/** The answer to a topic message or a broadcast: seq is its place in the
 * topic (absent for a scheduled one, until it goes). */
export interface Published {
  id: string;
  topic: string;
  seq?: number;
  deliverAt?: number;
}

/** The answer to recall(). */
export interface Recalled {
  id: string;
  status: "recalled" | "cancelled";
  recalledAt?: number;
}

/** A refusal from the server: status and the API's error code
 * (invalid_request, unauthorized, forbidden, not_found, ...). 408, 429 and
 * 5xx are retried before one is thrown. */
export class HeraldError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(`herald: ${status} ${code}: ${message}`);
    this.name = "HeraldError";
  }
}

export interface SenderOptions {
  apiKey: string;
  /** Collect base URLs (http://host:port); each retry goes to the next. */
  baseURLs: string | string[];
  /** The auth service's base URL, for token() (default: the first base URL, as with herald all). */
  authURL?: string;
  /** Tries in all (default 6). */
  attempts?: number;
  /** The first pause between tries, doubled with jitter up to maxBackoffMs
   * (default 100 ms, up to 5 s); a Retry-After is honoured. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Each request's bound (default 30 s). */
  timeoutMs?: number;
  /** Messages per request of sendBatch (default 1,000, the server's default). */
  maxBatch?: number;
  /** Told of each failed try that will be tried again. */
  onRetry?: (err: Error) => void;
  fetch?: typeof fetch;
}

/** Per call: the Idempotency-Key (the same key later returns the first answer, even after a restart). */
export interface CallOptions {
  key?: string;
}

const ms = (t: Date | number | undefined) => (t === undefined ? undefined : typeof t === "number" ? t : t.getTime());

function wire(m: MessageOptions & { users?: string[]; payload: unknown; topic?: string }): Record<string, unknown> {
  const out: Record<string, unknown> = { payload: m.payload };
  if (m.users) out.users = m.users;
  if (m.topic) out.topic = m.topic;
  if (m.ttlSeconds) out.ttl_seconds = m.ttlSeconds;
  if (m.expiresAt !== undefined) out.expires_at = ms(m.expiresAt);
  if (m.collapseKey) out.collapse_key = m.collapseKey;
  if (m.deliverAt !== undefined) out.deliver_at = ms(m.deliverAt);
  if (m.push) out.push = m.push;
  if (m.notification) {
    const n = m.notification;
    out.notification = { title: n.title, body: n.body, data: n.data, collapse_key: n.collapseKey, ttl_seconds: n.ttlSeconds, priority: n.priority };
  }
  return out;
}

export class HeraldSender {
  private readonly bases: string[];
  private readonly o: Required<Pick<SenderOptions, "attempts" | "backoffMs" | "maxBackoffMs" | "timeoutMs" | "maxBatch">> & SenderOptions;

  constructor(options: SenderOptions) {
    const list = Array.isArray(options.baseURLs) ? options.baseURLs : options.baseURLs.split(",");
    this.bases = list.map((u) => u.trim().replace(/\/+$/, "")).filter((u) => u);
    if (!this.bases.length) throw new Error("@heraldpush/client/sender: baseURLs is required");
    if (!options.apiKey) throw new Error("@heraldpush/client/sender: apiKey is required");
    this.o = { attempts: 6, backoffMs: 100, maxBackoffMs: 5000, timeoutMs: 30_000, maxBatch: 1000, ...options };
  }

  /** Stores one message; resolves with its ID. */
  async send(m: Message, opts: CallOptions = {}): Promise<string> {
    const out = await this.call<{ id: string }>("POST", "/v1/messages", wire(m), opts.key);
    return out.id;
  }

  /** Stores messages, maxBatch to a request (each one durable write, all or
   * nothing), and resolves with their IDs in order. With a key, each part's
   * key is the key and "#" and its number, so the whole call can be
   * retried with the same key. */
  async sendBatch(msgs: Message[], opts: CallOptions = {}): Promise<string[]> {
    const ids: string[] = [];
    for (let part = 0, i = 0; i < msgs.length; part++, i += this.o.maxBatch) {
      const chunk = msgs.slice(i, i + this.o.maxBatch);
      let key = opts.key;
      if (key && (part > 0 || chunk.length < msgs.length)) key += "#" + part;
      const out = await this.call<{ ids: string[] }>("POST", "/v1/messages/batch", { messages: chunk.map(wire) }, key);
      ids.push(...out.ids);
    }
    return ids;
  }

  /** Stores a message to every subscriber of topic. */
  async publish(topic: string, payload: unknown, opts: MessageOptions & CallOptions = {}): Promise<Published> {
    return this.published(await this.call("POST", `/v1/topics/${encodeURIComponent(topic)}/messages`, wire({ ...opts, payload }), opts.key));
  }

  /** Stores a message to every connection. */
  async broadcast(payload: unknown, opts: MessageOptions & CallOptions = {}): Promise<Published> {
    return this.published(await this.call("POST", "/v1/broadcast", wire({ ...opts, payload }), opts.key));
  }

  private published(out: any): Published {
    const p: Published = { id: out.id, topic: out.topic };
    if (out.seq) p.seq = out.seq;
    if (out.deliver_at) p.deliverAt = out.deliver_at;
    return p;
  }

  /** What became of a message, per recipient and device (GET /v1/messages/{id}), as the API answers it. */
  status(id: string): Promise<any> {
    return this.call("GET", `/v1/messages/${encodeURIComponent(id)}`);
  }

  /** Takes a message back: a scheduled one never goes out, a stored one is replayed to no one any more. */
  async recall(id: string): Promise<Recalled> {
    const out = await this.call<any>("DELETE", `/v1/messages/${encodeURIComponent(id)}`);
    const r: Recalled = { id: out.id, status: out.status };
    if (out.recalled_at) r.recalledAt = out.recalled_at;
    return r;
  }

  /** A token for a user's connection (POST /v1/tokens on the auth service). */
  async token(user: string, opts: { topics?: string[]; ttlSeconds?: number } = {}): Promise<string> {
    const body: Record<string, unknown> = { user };
    if (opts.topics) body.topics = opts.topics;
    if (opts.ttlSeconds) body.ttl_seconds = opts.ttlSeconds;
    const out = await this.call<{ token: string }>("POST", "/v1/tokens", body, undefined, this.o.authURL ?? this.bases[0]);
    return out.token;
  }

  /** Sends until a 2xx (its JSON), a refusal a retry cannot change, or the tries run out. */
  private async call<T>(method: string, path: string, body?: unknown, key?: string, only?: string): Promise<T> {
    const idem = key ?? "sdk-" + globalThis.crypto.randomUUID();
    const raw = body === undefined ? undefined : JSON.stringify(body);
    const start = Math.floor(Math.random() * this.bases.length);
    let pause = this.o.backoffMs;
    let last: Error = new Error("herald: no attempt");
    for (let i = 0; i < this.o.attempts; i++) {
      if (i > 0) {
        let wait = pause / 2 + Math.random() * pause; // jitter: many senders' retries do not come together
        if (last instanceof Retryable) wait = Math.max(wait, last.afterMs);
        await new Promise((r) => setTimeout(r, wait));
        pause = Math.min(pause * 2, this.o.maxBackoffMs);
      }
      const base = only ?? this.bases[(start + i) % this.bases.length];
      try {
        return await this.once<T>(method, base + path, idem, raw);
      } catch (err) {
        last = err instanceof Error ? err : new Error(String(err));
        if (!(last instanceof Retryable)) throw last;
        if (i + 1 < this.o.attempts) this.o.onRetry?.(last.cause as Error);
      }
    }
    throw last instanceof Retryable ? (last.cause as Error) : last;
  }

  private async once<T>(method: string, url: string, key: string, body?: string): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.o.apiKey}`, "Idempotency-Key": key };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp: Response;
    try {
      resp = await (this.o.fetch ?? fetch)(url, { method, headers, body, signal: AbortSignal.timeout(this.o.timeoutMs) });
    } catch (err) {
      // The message may be stored: the key makes the retry safe.
      throw new Retryable(err instanceof Error ? err : new Error(String(err)), 0);
    }
    const text = await resp.text();
    if (resp.ok) return (text ? JSON.parse(text) : {}) as T;
    let code = "", message = text.trim();
    try {
      const e = JSON.parse(text).error;
      if (e?.code) (code = e.code), (message = e.message);
    } catch {
      // not JSON: the text is the message
    }
    const err = new HeraldError(resp.status, code, message);
    if (resp.status === 408 || resp.status === 429 || resp.status >= 500) {
      const secs = Number(resp.headers.get("Retry-After"));
      throw new Retryable(err, Number.isFinite(secs) ? Math.min(secs, 60) * 1000 : 0);
    }
    throw err;
  }
}

/** An error worth another try, with the server's Retry-After. */
class Retryable extends Error {
  constructor(readonly cause: Error, readonly afterMs: number) {
    super(cause.message);
  }
}

/**
 * Checks a receipts or connection webhook request (docs/api.md, "Receipt
 * webhook"): the X-Herald-Signature header is "sha256=" and the hex
 * HMAC-SHA256 of the X-Herald-Timestamp header, ".", and the raw body,
 * with the webhook's secret; a timestamp further than toleranceSeconds
 * (300) from now is refused, so that a captured request cannot be
 * replayed later. Pass the body as received, before any JSON parsing.
 */
export async function verifyWebhook(
  secret: string,
  timestamp: string | null | undefined,
  signature: string | null | undefined,
  body: string | Uint8Array,
  opts: { toleranceSeconds?: number; now?: number } = {},
): Promise<boolean> {
  if (!timestamp || !signature?.startsWith("sha256=") || !/^\d+$/.test(timestamp)) return false;
  const now = opts.now ?? Date.now();
  if (Math.abs(now / 1000 - Number(timestamp)) > (opts.toleranceSeconds ?? 300)) return false;
  const hex = signature.slice(7);
  if (!/^[0-9a-f]{64}$/.test(hex)) return false;
  const sig = new Uint8Array(32);
  for (let i = 0; i < 32; i++) sig[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  const enc = new TextEncoder();
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  const signed = new Uint8Array(timestamp.length + 1 + bytes.length);
  signed.set(enc.encode(timestamp + "."));
  signed.set(bytes, timestamp.length + 1);
  const k = await globalThis.crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  return globalThis.crypto.subtle.verify("HMAC", k, sig, signed); // constant time
}
