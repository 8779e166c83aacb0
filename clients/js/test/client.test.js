// Runs against a real `herald all` whose address and API key the Go test
// (e2e TestJSClient) passes in HERALD_URL and HERALD_API_KEY.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { HeraldClient, PresenceError, PushError } from "../dist/index.js";

const base = process.env.HERALD_URL;
const key = process.env.HERALD_API_KEY;
if (!base || !key) throw new Error("set HERALD_URL and HERALD_API_KEY (e2e TestJSClient does)");
const wsBase = base.replace(/^http/, "ws");

async function api(path, body) {
  const r = await fetch(base + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  const data = await r.json();
  if (r.status >= 300) throw new Error(`${path}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}
const token = async (user) => (await api("/v1/tokens", { user })).token;
const send = (users, payload) => api("/v1/messages", { users, payload });

function waitFor(cond, ms = 10000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - start > ms) return reject(new Error("timed out"));
      setTimeout(tick, 20);
    };
    tick();
  });
}

test("receives in order, survives a dropped connection, resumes without loss or repeat", async () => {
  const user = "js-" + Math.random().toString(36).slice(2, 8);
  const got = [];
  let connects = 0;
  let tokens = 0;
  const c = new HeraldClient({
    url: wsBase,
    getToken: () => { tokens++; return token(user); },
    device: "node-1",
    WebSocket,
    minBackoffMs: 20,
    maxBackoffMs: 200,
  });
  c.on("message", (m) => got.push(m));
  c.on("connected", () => connects++);
  c.connect();
  await waitFor(() => connects === 1);
  for (let i = 0; i < 5; i++) await send([user], { i });
  await waitFor(() => got.length === 5);

  c.dropConnection();
  for (let i = 5; i < 10; i++) await send([user], { i });
  await waitFor(() => got.length === 10 && connects >= 2);
  c.close();

  assert.deepEqual(got.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(got.map((m) => m.payload.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(tokens >= 2, "a fresh token is asked for each connection");
  assert.equal(c.lastSeq, 10);
});

test("a new client on the same device resumes after the last ack", async () => {
  const user = "js-" + Math.random().toString(36).slice(2, 8);
  const first = [];
  const a = new HeraldClient({ url: wsBase, token: await token(user), device: "tab", WebSocket });
  a.on("message", (m) => first.push(m.seq));
  let up = false;
  a.on("connected", () => (up = true));
  a.connect();
  await waitFor(() => up);
  await send([user], "one");
  await send([user], "two");
  await waitFor(() => first.length === 2);
  await new Promise((r) => setTimeout(r, 1500)); // acks are saved about once a second
  a.close();

  await send([user], "three");
  const second = [];
  const b = new HeraldClient({ url: wsBase, token: await token(user), device: "tab", WebSocket });
  b.on("message", (m) => second.push(m));
  b.connect();
  await waitFor(() => second.length === 1);
  b.close();
  assert.equal(second[0].seq, 3);
  assert.equal(second[0].payload, "three");
});

test("a token about to expire is replaced on the open connection (refresh)", async () => {
  // The Go test runs herald all with --ping-interval 1s --token-grace 1s.
  const user = "js-" + Math.random().toString(36).slice(2, 8);
  let tokens = 0;
  let connects = 0;
  const closes = [];
  const got = [];
  const c = new HeraldClient({
    url: wsBase,
    // The first token lives 2 s; the refreshed one an hour.
    getToken: async () => {
      tokens++;
      return (await api("/v1/tokens", { user, ttl_seconds: tokens === 1 ? 2 : 3600 })).token;
    },
    WebSocket,
  });
  c.on("connected", () => connects++);
  c.on("disconnected", (d) => closes.push(d.code));
  c.on("message", (m) => got.push(m));
  c.connect();
  await waitFor(() => connects === 1);
  await waitFor(() => tokens >= 2, 8000);
  // Past the first token's expiry and grace: still the same connection.
  await new Promise((r) => setTimeout(r, 3500));
  await send([user], { after: "expiry" });
  await waitFor(() => got.length === 1);
  c.close();
  assert.equal(connects, 1, "one connection throughout");
  assert.deepEqual(closes.filter((code) => code !== 1005 && code !== 1000), []);
});

test("topics: subscribe, refusals reported, each topic resumed after a dropped connection", async () => {
  const user = "js-" + Math.random().toString(36).slice(2, 8);
  const topic = "t-" + user;
  const got = [];
  const refused = [];
  let connects = 0;
  const c = new HeraldClient({
    url: wsBase,
    getToken: async () => (await api("/v1/tokens", { user, topics: [topic] })).token,
    topics: [topic],
    WebSocket,
    minBackoffMs: 20,
    maxBackoffMs: 200,
  });
  c.on("pub", (p) => { if (p.topic === topic) got.push(p.seq); });
  c.on("subRefused", (r) => refused.push(`${r.topic}:${r.code}`));
  c.on("connected", () => connects++);
  c.connect();
  await waitFor(() => connects === 1);
  c.subscribe("not-in-the-claim");
  await waitFor(() => refused.length === 1);
  assert.deepEqual(refused, ["not-in-the-claim:forbidden"]);
  // The sub was sent right after hello, so it is answered by now.
  for (let i = 0; i < 3; i++) await api(`/v1/topics/${topic}/messages`, { payload: i });
  await waitFor(() => got.length === 3);

  c.dropConnection();
  for (let i = 3; i < 6; i++) await api(`/v1/topics/${topic}/messages`, { payload: i });
  await waitFor(() => got.length === 6 && connects >= 2);
  c.close();
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
});

test("a connection that closes soon after it opens backs off instead of looping", async () => {
  // A server that says hello and closes at once, as a browser does over a
  // text frame that is not UTF-8: the client must not reconnect flat out.
  const { WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.on("listening", r));
  let connections = 0;
  wss.on("connection", (sock) => {
    connections++;
    sock.send(JSON.stringify({ type: "hello", user: "u", conn: "c", node: "n", seq: 0, broadcast_seq: 0 }));
    sock.close(1007, "invalid UTF-8");
  });
  const c = new HeraldClient({
    url: `ws://127.0.0.1:${wss.address().port}`,
    token: "t",
    WebSocket,
    minBackoffMs: 50,
    maxBackoffMs: 10_000,
  });
  const gaps = [];
  let last = 0;
  c.on("connected", () => {
    const now = Date.now();
    if (last) gaps.push(now - last);
    last = now;
  });
  c.connect();
  await new Promise((r) => setTimeout(r, 2000));
  c.close();
  wss.close();
  // Delays drawn from 50, 100, 200, 400, 800 ms (full jitter) add up to at
  // most 1.55 s: a handful of connections in 2 s, where resetting the
  // backoff at each hello made about 80.
  assert.ok(connections >= 2 && connections <= 8, `${connections} connections in 2 s`);
});

test("a store wiped under the client: a new epoch starts the stream over", async () => {
  // The first server has seqs 1-3 in epoch A; the second (the store wiped)
  // is at seq 1 in epoch B. The client must resume with its epoch, and take
  // the new seq 1 rather than drop it as a repeat of the old one.
  const { WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.on("listening", r));
  const urls = [];
  wss.on("connection", (sock, req) => {
    urls.push(req.url);
    const hello = (seq, epoch) => sock.send(JSON.stringify({ type: "hello", user: "u", conn: "c", node: "n", seq, epoch, broadcast_seq: 0 }));
    const msg = (seq) => sock.send(JSON.stringify({ type: "msg", id: "m" + seq, seq, ts: 1, payload: seq }));
    if (urls.length === 1) {
      hello(0, "A");
      for (const s of [1, 2, 3]) msg(s);
      setTimeout(() => sock.close(1012, "restart"), 100);
    } else {
      hello(1, "B");
      msg(1);
    }
  });
  const got = [];
  const c = new HeraldClient({ url: `ws://127.0.0.1:${wss.address().port}`, token: "t", WebSocket, minBackoffMs: 20 });
  c.on("message", (m) => got.push(m.seq));
  c.connect();
  await waitFor(() => got.length === 4);
  c.close();
  wss.close();
  assert.deepEqual(got, [1, 2, 3, 1]);
  const second = new URLSearchParams(urls[1].split("?")[1]);
  assert.equal(second.get("since"), "3");
  assert.equal(second.get("epoch"), "A");
});

test("over Server-Sent Events: order, acks, resume after a dropped stream, topics, refusals", async () => {
  const user = "js-" + Math.random().toString(36).slice(2, 8);
  const topic = "t-" + user;
  const got = [];
  const pubs = [];
  const refused = [];
  let connects = 0;
  const opts = {
    url: base, // http:// is taken as the server's base as ws:// is
    getToken: async () => (await api("/v1/tokens", { user, topics: [topic] })).token,
    device: "sse-tab",
    transports: ["sse"],
    topics: [topic],
    minBackoffMs: 20,
    maxBackoffMs: 200,
  };
  const c = new HeraldClient(opts); // no WebSocket implementation needed
  assert.equal(c.transport, "sse");
  c.on("message", (m) => got.push(m.seq));
  c.on("pub", (p) => { if (p.topic === topic) pubs.push(p.seq); });
  c.on("subRefused", (r) => refused.push(`${r.topic}:${r.code}`));
  c.on("connected", () => connects++);
  c.connect();
  await waitFor(() => connects === 1);
  c.subscribe("not-in-the-claim");
  await waitFor(() => refused.length === 1);
  assert.deepEqual(refused, ["not-in-the-claim:forbidden"]);
  for (let i = 0; i < 5; i++) await send([user], { i });
  for (let i = 0; i < 2; i++) await api(`/v1/topics/${topic}/messages`, { payload: i });
  await waitFor(() => got.length === 5 && pubs.length === 2);

  c.dropConnection();
  for (let i = 5; i < 8; i++) await send([user], { i });
  await api(`/v1/topics/${topic}/messages`, { payload: 2 });
  await waitFor(() => got.length === 8 && pubs.length === 3 && connects >= 2);
  await new Promise((r) => setTimeout(r, 1500)); // acks are saved about once a second
  c.close();
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(pubs, [1, 2, 3]);

  // The acks POSTed back were saved: the device's next stream starts after them.
  await send([user], "nine");
  const next = [];
  const d = new HeraldClient({ ...opts, topics: [] });
  d.on("message", (m) => next.push(m.seq));
  d.connect();
  await waitFor(() => next.length === 1);
  d.close();
  assert.deepEqual(next, [9]);
});

test("after two WebSocket upgrades that never open, Server-Sent Events for the page's life", async () => {
  // A WebSocket that a proxy refuses: an error and a 1006 close, never open.
  let attempts = 0;
  class Refused {
    constructor() {
      attempts++;
      this.readyState = 0;
      setTimeout(() => { this.readyState = 3; this.onerror?.({}); this.onclose?.({ code: 1006, reason: "" }); }, 5);
    }
    send() {}
    close() {}
  }
  const user = "js-" + Math.random().toString(36).slice(2, 8);
  // Last in this file: the page (this process) remembers wsBase as broken.
  const opts = { url: wsBase, getToken: () => token(user), WebSocket: Refused, minBackoffMs: 20, maxBackoffMs: 100 };
  const got = [];
  const c = new HeraldClient(opts);
  assert.equal(c.transport, "websocket");
  let up = false;
  c.on("connected", () => (up = true));
  c.on("message", (m) => got.push(m.payload));
  c.connect();
  await waitFor(() => up);
  assert.equal(attempts, 2);
  assert.equal(c.transport, "sse");
  await send([user], "over sse");
  await waitFor(() => got.length === 1);
  c.close();

  // Another client of the page for the same server goes straight to SSE.
  const d = new HeraldClient(opts);
  assert.equal(d.transport, "sse");
  let dUp = false;
  d.on("connected", () => (dUp = true));
  d.connect();
  await waitFor(() => dUp);
  d.close();
  assert.equal(attempts, 2, "no WebSocket tried again");
});

test("presence: join and leave events (a burst gathered into one frame comes as an event each), who is there, refusals", async () => {
  const run = Math.random().toString(36).slice(2, 8);
  const room = "room:" + run;
  const tokenFor = (user) => async () => (await api("/v1/tokens", { user, topics: ["room:*"] })).token;
  const changes = [];
  const watcher = new HeraldClient({ url: wsBase, getToken: tokenFor("watcher-" + run), topics: [room], WebSocket });
  watcher.on("join", (c) => changes.push(`join ${c.user}`));
  watcher.on("leave", (c) => changes.push(`leave ${c.user}`));
  let up = false;
  watcher.on("connected", () => (up = true));
  await assert.rejects(watcher.presence(room), (e) => e instanceof PresenceError && e.code === "not_connected");
  watcher.connect();
  await waitFor(() => up && changes.includes(`join watcher-${run}`));

  const others = [];
  for (let i = 0; i < 5; i++) {
    const c = new HeraldClient({ url: wsBase, getToken: tokenFor(`u${i}-${run}`), device: "d" + i, topics: [room], WebSocket });
    c.connect();
    others.push(c);
  }
  await waitFor(() => others.every((_, i) => changes.includes(`join u${i}-${run}`)));
  // Every join was heard, so all six are recorded; ask until the answer
  // says so (a presence write is batched on its node).
  let answer;
  for (let i = 0; i < 100; i++) {
    answer = await watcher.presence(room);
    if (answer.users.length === 6) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(answer.users.length, 6);
  assert.equal(answer.more, false);
  await assert.rejects(watcher.presence("room:elsewhere"), (e) => e instanceof PresenceError && e.code === "forbidden");

  for (const c of others) c.close();
  await waitFor(() => others.every((_, i) => changes.includes(`leave u${i}-${run}`)));
  watcher.close();
});

test("push: a device registers itself (a browser's Web Push subscription, an app's FCM token), refusals, unregister", async () => {
  const user = "push-" + Math.random().toString(36).slice(2, 8);
  const getToken = async () => (await api("/v1/tokens", { user, topics: ["news"] })).token;
  const registration = async (device) => {
    const r = await fetch(`${base}/v1/users/${user}/devices/${device}/push`, { headers: { Authorization: `Bearer ${key}` } });
    return r.status === 200 ? r.json() : null;
  };
  // A stand-in for the browser's PushManager: what a real one returns.
  const subscription = {
    endpoint: "https://127.0.0.1:9/push/" + user,
    keys: {
      p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
      auth: "tBHItJI5svbpez7KI4CCXg",
    },
  };
  let askedKey;
  const serviceWorker = {
    pushManager: {
      sub: null,
      async getSubscription() { return this.sub; },
      async subscribe(o) {
        askedKey = o.applicationServerKey;
        this.sub = { toJSON: () => subscription, unsubscribe: async () => { serviceWorker.pushManager.sub = null; return true; } };
        return this.sub;
      },
    },
  };
  const web = new HeraldClient({ url: wsBase, getToken, device: "browser", WebSocket });
  let up = false;
  web.on("connected", () => (up = true));
  await assert.rejects(web.registerPush({ provider: "fcm", token: "t" }), (e) => e instanceof PushError && e.code === "not_connected");
  web.connect();
  await waitFor(() => up);

  const sub = await web.enableWebPush({ serviceWorker, topics: ["news"] });
  assert.equal(sub.endpoint, subscription.endpoint);
  assert.ok(askedKey instanceof Uint8Array && askedKey.length === 65 && askedKey[0] === 4, "the VAPID key, fetched and decoded");
  const stored = await registration("browser");
  assert.equal(stored.provider, "webpush");
  assert.equal(stored.subscription.endpoint, subscription.endpoint);
  assert.deepEqual(stored.topics, ["news"]);

  await assert.rejects(web.registerPush({ provider: "webpush", subscription, topics: ["secret"] }),
    (e) => e instanceof PushError && e.code === "forbidden");
  await assert.rejects(web.registerPush({ provider: "fcm" }), (e) => e instanceof PushError && e.code === "invalid");

  await web.disableWebPush(serviceWorker);
  assert.equal(await registration("browser"), null);
  assert.equal(serviceWorker.pushManager.sub, null);

  // An app with its FCM token registers the same way.
  await web.registerPush({ provider: "fcm", token: "fcm-token-1" });
  assert.equal((await registration("browser")).token, "fcm-token-1");
  web.close();
});

test("lifecycle: a topic's last value first, recall events", async () => {
  const user = "lc-" + Math.random().toString(36).slice(2, 8);
  const topic = "price:" + user;
  for (const p of [1, 2, 3]) await api(`/v1/topics/${encodeURIComponent(topic)}/messages`, { payload: p });
  const getToken = async () => (await api("/v1/tokens", { user, topics: ["price:*"] })).token;
  const pubs = [];
  const recalls = [];
  const c = new HeraldClient({ url: wsBase, getToken, device: "d", topics: [topic], lastValue: true, recall: true, WebSocket });
  c.on("pub", (p) => pubs.push(p));
  c.on("recall", (r) => recalls.push(r));
  c.connect();
  await waitFor(() => pubs.length === 1);
  assert.equal(pubs[0].payload, 3, "the last value, not the older ones");
  const { id } = await send([user], "oops");
  const r = await fetch(`${base}/v1/messages/${id}`, { method: "DELETE", headers: { Authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200);
  await waitFor(() => recalls.length === 1);
  assert.equal(recalls[0].id, id);
  assert.equal(recalls[0].seq, 1);
  c.close();
});
