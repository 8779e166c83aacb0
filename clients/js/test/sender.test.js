// The sender against a real `herald all` (e2e TestJSClient passes its
// address and API key in HERALD_URL and HERALD_API_KEY).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac } from "node:crypto";
import { HeraldSender, HeraldError, verifyWebhook } from "../dist/sender.js";

const base = process.env.HERALD_URL;
const apiKey = process.env.HERALD_API_KEY;
if (!base || !apiKey) throw new Error("set HERALD_URL and HERALD_API_KEY (e2e TestJSClient does)");
const run = Math.random().toString(36).slice(2, 8);

test("send, batch, publish, broadcast, status, recall, token", async () => {
  const s = new HeraldSender({ apiKey, baseURLs: base });
  const id = await s.send({ users: ["s-" + run], payload: { text: "hi" }, ttlSeconds: 3600, collapseKey: "greeting" });
  const st = await s.status(id);
  assert.equal(st.collapse_key, "greeting");
  assert.ok(st.expires_at > Date.now());
  assert.deepEqual(st.recipients.map((r) => r.user), ["s-" + run]);

  const msgs = Array.from({ length: 5 }, (_, i) => ({ users: ["b-" + run], payload: i }));
  const ids = await new HeraldSender({ apiKey, baseURLs: [base], maxBatch: 2 }).sendBatch(msgs, { key: "batch-" + run });
  assert.equal(ids.length, 5);
  const again = await new HeraldSender({ apiKey, baseURLs: [base], maxBatch: 2 }).sendBatch(msgs, { key: "batch-" + run });
  assert.deepEqual(again, ids, "the same key: the same messages, stored once");

  const p = await s.publish("news-" + run, "goal");
  assert.equal(p.seq, 1);
  const later = await s.publish("news-" + run, "later", { deliverAt: Date.now() + 3_600_000 });
  assert.equal(later.seq, undefined);
  assert.ok(later.deliverAt > Date.now());
  assert.deepEqual(await s.recall(later.id), { id: later.id, status: "cancelled" });
  const r = await s.recall(id);
  assert.equal(r.status, "recalled");
  assert.ok(r.recalledAt > 0);
  const b = await s.broadcast("all");
  assert.equal(b.topic, "*");
  assert.match(await s.token("t-" + run, { topics: ["news"] }), /^ey/);

  await assert.rejects(s.send({ users: ["bad user"], payload: 1 }), (e) => e instanceof HeraldError && e.status === 400 && e.code === "invalid_request");
  await assert.rejects(s.recall("0123456789abcdef0123456789abcdef"), (e) => e instanceof HeraldError && e.status === 404);
});

test("a lost answer and a 503 are retried under the same key: stored once", async () => {
  // A proxy in front of herald all that passes the first request on but
  // answers 503 itself (the answer lost), then lets the rest through.
  let calls = 0;
  const proxy = createServer(async (req, res) => {
    calls++;
    const body = await new Promise((r) => { let d = ""; req.on("data", (c) => (d += c)); req.on("end", () => r(d)); });
    const up = await fetch(base + req.url, { method: req.method, headers: { "Content-Type": "application/json",
      Authorization: req.headers.authorization, "Idempotency-Key": req.headers["idempotency-key"] }, body: body || undefined });
    const text = await up.text();
    if (calls === 1) {
      res.writeHead(503, { "Content-Type": "application/json", "Retry-After": "0" });
      return res.end('{"error":{"code":"unavailable","message":"lost"}}');
    }
    res.writeHead(up.status, { "Content-Type": "application/json" });
    res.end(text);
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  try {
    const retried = [];
    const s = new HeraldSender({ apiKey, baseURLs: `http://127.0.0.1:${proxy.address().port}`, backoffMs: 10, onRetry: (e) => retried.push(e) });
    const user = "r-" + run;
    const id = await s.send({ users: [user], payload: "once" });
    assert.equal(calls, 2);
    assert.equal(retried.length, 1);
    assert.equal(retried[0].status, 503);
    const hist = await (await fetch(`${base}/v1/users/${user}/messages`, { headers: { Authorization: `Bearer ${apiKey}` } })).json();
    assert.deepEqual(hist.messages.map((m) => m.id), [id], "stored once");
  } finally {
    proxy.close();
  }
});

test("webhook signatures: a good one passes; another body, secret or an old timestamp does not", async () => {
  const secret = "webhook-secret-0123456789";
  const body = '{"events":[{"type":"acked","id":"x"}]}';
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = "sha256=" + createHmac("sha256", secret).update(ts + "." + body).digest("hex");
  assert.equal(await verifyWebhook(secret, ts, sig, body), true);
  assert.equal(await verifyWebhook(secret, ts, sig, new TextEncoder().encode(body)), true);
  assert.equal(await verifyWebhook(secret, ts, sig, body + " "), false);
  assert.equal(await verifyWebhook("another-secret-000000", ts, sig, body), false);
  assert.equal(await verifyWebhook(secret, ts, sig, body, { now: Date.now() + 600_000 }), false);
  assert.equal(await verifyWebhook(secret, ts, "sha256=zz", body), false);
  assert.equal(await verifyWebhook(secret, null, sig, body), false);
});
