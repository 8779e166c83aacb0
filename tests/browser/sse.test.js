// The demo page behind a proxy that refuses every WebSocket upgrade (e2e
// TestBrowserDemo starts it and passes PROXY_URL and PROXY_CONTROL): the
// SDK falls back to Server-Sent Events, and the page connects, receives,
// acks, subscribes to a topic, and resumes with nothing lost or repeated
// after the proxy restarts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.HERALD_URL;
const key = process.env.HERALD_API_KEY;
const proxy = process.env.PROXY_URL;
const control = process.env.PROXY_CONTROL;
const shots = process.env.ARTIFACTS || tmpdir();
if (!base || !key || !proxy || !control) throw new Error("set HERALD_URL, HERALD_API_KEY, PROXY_URL and PROXY_CONTROL (e2e TestBrowserDemo does)");

const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// The API straight at Herald, not through the proxy.
async function api(method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: body && JSON.stringify(body),
  });
  const data = await r.json();
  if (r.status >= 300) throw new Error(`${path}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

async function until(fn, ms = 10000) {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > ms) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("behind a proxy that refuses WebSocket: Server-Sent Events, acks, a topic, resume after the proxy restarts", async () => {
  const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "herald-chromium-")), {
    executablePath: "/usr/bin/chromium", headless: true, args, viewport: { width: 1200, height: 820 },
  });
  try {
    const page = await ctx.newPage();
    let sockets = 0;
    page.on("websocket", () => sockets++);
    await page.goto(proxy + "/");
    await page.fill("#user", "carol");
    await page.click("#connect");
    await page.waitForSelector(".badge.on", { timeout: 20000 });
    assert.match(await page.textContent("#hello"), /over Server-Sent Events/);
    assert.equal(sockets, 2, "two WebSocket attempts, then none");

    // A message sent from the page (through the proxy) arrives, and the
    // page's ack reaches the store through POST /sse/frames.
    await page.fill("#to", "carol");
    await page.fill("#payload", '{"text":"first, over SSE"}');
    await page.click("#send");
    await page.waitForFunction(() => document.querySelector("#messages").textContent.includes("first, over SSE"), null, { timeout: 10000 });
    // The message may come over the stream before the page has the send's answer.
    await page.waitForFunction(() => document.querySelector("#send-result").textContent.startsWith("Stored:"), null, { timeout: 10000 });
    const id = (await page.textContent("#send-result")).match(/Stored: (\w+)/)[1];
    await until(async () => (await api("GET", `/v1/messages/${id}`)).recipients[0].status === "acked");

    await page.fill("#sub-topic", "weather");
    await page.click("#subscribe");
    await page.waitForFunction(() => document.querySelector("#topics").textContent.includes("weather"));
    await until(async () => {
      await api("POST", "/v1/topics/weather/messages", { payload: { text: "rain" } });
      return page.evaluate(() => document.querySelector("#messages").textContent.includes("rain"));
    });

    // The proxy goes down; messages sent meanwhile arrive once it is back,
    // each once, after those already shown.
    await fetch(control + "/down");
    await page.waitForSelector(".badge.wait", { timeout: 10000 });
    await api("POST", "/v1/messages", { users: ["carol"], payload: { text: "second, while down" } });
    await api("POST", "/v1/messages", { users: ["carol"], payload: { text: "third, while down" } });
    await fetch(control + "/up");
    await page.waitForSelector(".badge.on", { timeout: 20000 });
    await page.waitForFunction(() => document.querySelector("#messages").textContent.includes("third, while down"), null, { timeout: 10000 });
    await api("POST", "/v1/topics/weather/messages", { payload: { text: "sun" } });
    await page.waitForFunction(() => document.querySelector("#messages").textContent.includes("sun"), null, { timeout: 10000 });
    const rows = await page.locator("#messages tr").allTextContents();
    const direct = rows.filter((r) => r.startsWith("direct"));
    assert.equal(direct.length, 3, `direct messages shown: ${direct.join(" | ")}`);
    assert.match(direct[0], /third/);
    assert.match(direct[2], /first/);
    assert.equal(sockets, 2, "no WebSocket tried after the fallback");
    await page.screenshot({ path: join(shots, "demo-sse-fallback.png"), fullPage: true });
  } finally {
    await ctx.close();
  }
});
