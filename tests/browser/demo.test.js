// Browser test of the demo page, driven by the Go test e2e TestBrowserDemo:
// Debian's Chromium, headless, through playwright-core (no browser download).
// Two pages as two users; a message sent from one reaches the other; a topic
// message reaches the subscriber only, a broadcast both; the admin page shows
// them connected.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.HERALD_URL;
const shots = process.env.ARTIFACTS || tmpdir();
if (!base) throw new Error("set HERALD_URL (e2e TestBrowserDemo does)");

// Without the background-networking flags Chromium stalls on this machine's
// closed network; a fresh profile per run.
const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// open connects user on a new page; page.extensions collects the
// Sec-WebSocket-Extensions of each WebSocket handshake's answer (through
// the DevTools protocol: the page's own WebSocket does not say).
async function open(ctx, user, device) {
  const page = await ctx.newPage();
  page.extensions = [];
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
  cdp.on("Network.webSocketHandshakeResponseReceived", (e) => {
    const h = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    page.extensions.push(h["sec-websocket-extensions"] || "");
  });
  await page.goto(base + "/");
  await page.fill("#user", user);
  if (device) await page.fill("#device", device);
  await page.click("#connect");
  await page.waitForSelector(".badge.on", { timeout: 10000 });
  return page;
}

test("two users on the demo page, a message between them, and the admin page", async () => {
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "herald-chromium-")), {
    executablePath: "/usr/bin/chromium", headless: true, args, viewport: { width: 1200, height: 820 },
  });
  try {
    const alice = await open(ctx, "alice");
    const bob = await open(ctx, "bob");
    await alice.fill("#to", "bob");
    await alice.fill("#payload", '{"text":"hi bob, from alice"}');
    await alice.click("#send");
    await bob.waitForSelector("#messages tr", { timeout: 10000 });
    const row = await bob.textContent("#messages tr");
    assert.match(row, /hi bob, from alice/);
    assert.equal(await alice.locator("#messages tr").count(), 0, "alice gets nothing she was not sent");

    // Chromium offers permessage-deflate and Herald agrees (no context
    // takeover); a message over --compression-threshold comes compressed,
    // and Chromium inflates it to the same text.
    assert.match(bob.extensions[0], /^permessage-deflate; server_no_context_takeover; client_no_context_takeover$/);
    const long = "compressed ".repeat(200).trim();
    await alice.fill("#payload", JSON.stringify({ text: long }));
    await alice.click("#send");
    await bob.waitForFunction((t) => document.querySelector("#messages").textContent.includes(t), long, { timeout: 10000 });
    assert.equal(bob.extensions.length, 1, "still the first connection");


    // Topics: bob subscribes to news; alice sends to the topic, then a
    // broadcast that both get.
    await bob.fill("#sub-topic", "news");
    await bob.click("#subscribe");
    await bob.waitForFunction(() => document.querySelector("#topics").textContent.includes("news"));
    await bob.waitForTimeout(300); // the subscription's answer
    await alice.selectOption("#mode", "topic");
    await alice.fill("#topic", "news");
    await alice.fill("#payload", '{"text":"topic news"}');
    await alice.click("#send");
    await bob.waitForFunction(() => document.querySelector("#messages").textContent.includes("topic news"), null, { timeout: 10000 });
    await alice.selectOption("#mode", "broadcast");
    await alice.fill("#payload", '{"text":"to everyone"}');
    await alice.click("#send");
    for (const p of [alice, bob]) {
      await p.waitForFunction(() => document.querySelector("#messages").textContent.includes("to everyone"), null, { timeout: 10000 });
    }
    assert.doesNotMatch(await alice.textContent("#messages"), /topic news/, "alice is not subscribed to news");
    await alice.screenshot({ path: join(shots, "demo-alice.png"), fullPage: true });
    await bob.screenshot({ path: join(shots, "demo-bob.png"), fullPage: true });

    // The admin page shows both connected users (and the node holding them).
    const admin = await ctx.newPage();
    await admin.goto(base + "/admin");
    await admin.fill("#key", process.env.HERALD_API_KEY);
    await admin.click("#load");
    await admin.waitForFunction(() => {
      const t = document.querySelector("#users").textContent;
      return t.includes("alice") && t.includes("bob");
    }, null, { timeout: 10000 });
    assert.match(await admin.textContent("#nodes"), /local/);

    // A topic's presence: alice subscribes to chat:room on her page.
    await alice.fill("#sub-topic", "chat:room");
    await alice.click("#subscribe");
    await admin.fill("#topic", "chat:room");
    await admin.waitForFunction(async () => {
      document.querySelector("#topic-look").click();
      await new Promise((r) => setTimeout(r, 200));
      return document.querySelector("#topic-members").textContent.includes("alice") &&
        document.querySelector("#topic-stats").textContent.startsWith("1 users, 1 connections");
    }, null, { timeout: 10000 });

    // A user: bob's connection and inbox, with the receipt of alice's
    // message, and his phone's push registration.
    const reg = await fetch(base + "/v1/users/bob/devices/phone/push", {
      method: "PUT",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${process.env.HERALD_API_KEY}` },
      body: JSON.stringify({ provider: "fcm", token: "fcm-token-of-bobs-phone", topics: ["news", "sport"] }),
    });
    assert.equal(reg.status, 200);
    await admin.fill("#user", "bob");
    await admin.click("#user-look");
    await admin.waitForFunction(() => document.querySelector("#user-inbox").textContent.includes("hi bob, from alice"), null, { timeout: 10000 });
    assert.match(await admin.textContent("#user-state"), /online, 1 connection/);
    assert.match(await admin.textContent("#user-inbox"), /acked|delivered/);
    assert.match(await admin.textContent("#user-push"), /phone\s*fcm\s*token fcm-token-of…\s*news, sport/);

    // Actions: a message to bob and one to the topic, from the admin page.
    await admin.fill("#user-payload", '{"text":"from the operator"}');
    await admin.click("#user-send");
    await bob.waitForFunction(() => document.querySelector("#messages").textContent.includes("from the operator"), null, { timeout: 10000 });
    await admin.waitForFunction(() => document.querySelector("#user-result").textContent.startsWith("Stored:"), null, { timeout: 10000 });
    const id = (await admin.textContent("#user-result")).match(/Stored: (\w+)/)[1];
    await admin.fill("#topic-payload", "to the room");
    await admin.click("#topic-send");
    await alice.waitForFunction(() => document.querySelector("#messages").textContent.includes("to the room"), null, { timeout: 10000 });

    // A message by its ID: its recipients and their receipts.
    await admin.fill("#msg-id", id);
    await admin.click("#msg-look");
    await admin.waitForFunction(() => document.querySelector("#msg-out").textContent.includes('"recipients"'), null, { timeout: 10000 });
    assert.match(await admin.textContent("#msg-out"), /"user": "bob"/);

    // Disconnect one device, from the user's connections, after the
    // browser's confirmation: dave's phone is closed with 4003, his laptop
    // stays connected.
    const phone = await open(ctx, "dave", "dave-phone");
    const laptop = await open(ctx, "dave", "dave-laptop");
    await admin.fill("#user", "dave");
    await admin.click("#user-look");
    await admin.waitForSelector('#user-conns button[data-device="dave-phone"]', { timeout: 10000 });
    admin.once("dialog", (d) => d.accept());
    await admin.click('#user-conns button[data-device="dave-phone"]');
    await admin.waitForFunction(() => document.querySelector("#user-result").textContent.includes("dave-phone disconnected"), null, { timeout: 10000 });
    // (A refused reconnect after a 4003 closes with 1006: the codes are a list.)
    const closes = (page) => page.evaluate(() => (document.querySelector("#hello").dataset.closes ?? "").split(" "));
    await phone.waitForFunction(() => (document.querySelector("#hello").dataset.closes ?? "").split(" ").includes("4003"), null, { timeout: 10000 });
    assert.deepEqual(await closes(laptop), [""], "the laptop was not disconnected");

    // Disconnect everywhere: the laptop is closed with 4003 too.
    admin.once("dialog", (d) => d.accept());
    await admin.click("#user-disconnect");
    await admin.waitForFunction(() => document.querySelector("#user-result").textContent.includes("dave disconnected"), null, { timeout: 10000 });
    await laptop.waitForFunction(() => (document.querySelector("#hello").dataset.closes ?? "").split(" ").includes("4003"), null, { timeout: 10000 });

    await admin.click("#topic-look");
    await admin.waitForFunction(() => document.querySelector("#topic-stats").textContent.startsWith("1 users"), null, { timeout: 5000 });
    await admin.waitForTimeout(2500); // one more sample for the chart
    await admin.screenshot({ path: join(shots, "admin.png"), fullPage: true });
  } finally {
    await ctx.close();
  }
});

// The SDK registers the browser for Web Push over its connection: the VAPID
// key fetched and decoded by the browser, a subscription whose p256dh is a
// P-256 key the browser made (Chromium here cannot reach a push service to
// subscribe for real, so the PushManager is a stand-in that answers as one
// does), stored for the connection's device with its topics.
test("a page registers its browser for Web Push through the SDK", async () => {
  const key = process.env.HERALD_API_KEY;
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "herald-chromium-")), {
    executablePath: "/usr/bin/chromium", headless: true, args, viewport: { width: 1200, height: 820 },
  });
  try {
    const page = await ctx.newPage();
    await page.goto(base + "/");
    const answer = await page.evaluate(async () => {
      const { HeraldClient } = await import("/herald-client.js");
      const getToken = async () => (await (await fetch("/dev/token", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: "erin", topics: ["news"] }) })).json()).token;
      const client = new HeraldClient({ url: location.origin, getToken, device: "chrome" });
      await new Promise((resolve) => { client.on("connected", resolve); client.connect(); });
      const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
      const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
      const b64url = (b) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      let asked;
      const serviceWorker = { pushManager: {
        getSubscription: async () => null,
        subscribe: async (o) => {
          asked = o.applicationServerKey;
          return { toJSON: () => ({ endpoint: "https://127.0.0.1:9/push/erin", keys: { p256dh: b64url(raw), auth: b64url(crypto.getRandomValues(new Uint8Array(16))) } }) };
        },
      } };
      const sub = await client.enableWebPush({ serviceWorker, topics: ["news"] });
      let refused = "";
      await client.registerPush({ provider: "webpush", subscription: { ...sub, endpoint: "https://push.example.com/x" } }).catch((e) => { refused = e.code; });
      client.close();
      return { keyLength: asked.length, first: asked[0], endpoint: sub.endpoint, refused };
    });
    assert.deepEqual(answer, { keyLength: 65, first: 4, endpoint: "https://127.0.0.1:9/push/erin", refused: "invalid" });
    const r = await fetch(base + "/v1/users/erin/devices/chrome/push", { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200);
    const reg = await r.json();
    assert.equal(reg.provider, "webpush");
    assert.deepEqual(reg.topics, ["news"]);
  } finally {
    await ctx.close();
  }
});

// A message stored with invalid UTF-8 (by an older version, or restored from
// a backup; the API refuses such a payload now) for POISON_USER: the push
// node replaces the bad bytes with U+FFFD, so Chromium keeps the connection
// instead of failing it ("Could not decode a text frame as UTF-8") and
// reconnecting to the same message again and again.
test("a stored message with invalid UTF-8 does not wedge the page", async () => {
  const user = process.env.POISON_USER;
  if (!user) throw new Error("set POISON_USER (e2e TestBrowserDemo does)");
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "herald-chromium-")), {
    executablePath: "/usr/bin/chromium", headless: true, args, viewport: { width: 1200, height: 820 },
  });
  try {
    const page = await ctx.newPage();
    let sockets = 0;
    page.on("websocket", () => sockets++);
    await page.goto(base + "/");
    await page.fill("#user", user);
    await page.click("#connect");
    await page.waitForSelector(".badge.on", { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector("#messages").textContent.includes("caf\uFFFD\uFFFD"), null, { timeout: 10000 });
    await page.waitForTimeout(3000); // a wedged page reconnected about 5 times a second
    assert.equal(sockets, 1, `${sockets} WebSocket connections: the page reconnected`);
    assert.equal(await page.locator(".badge.on").count(), 1, "still connected");
    await page.screenshot({ path: join(shots, "demo-repaired-utf8.png"), fullPage: true });
  } finally {
    await ctx.close();
  }
});
